package compat

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParseTimeOrDuration(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		in   string
		want time.Time
		bad  bool
	}{
		{name: "duration", in: "10m", want: now.Add(-10 * time.Minute)},
		{name: "hours", in: "24h", want: now.Add(-24 * time.Hour)},
		{name: "unix seconds", in: "1700000000", want: time.Unix(1700000000, 0).UTC()},
		{name: "unix with fraction", in: "1700000000.5", want: time.Unix(1700000000, 500000000).UTC()},
		{name: "zero is a timestamp", in: "0", want: time.Unix(0, 0).UTC()},
		{name: "RFC 3339", in: "2026-11-20T10:00:00Z", want: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)},
		{name: "RFC 3339 with offset", in: "2026-11-20T10:00:00+02:00", want: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)},
		{name: "date with zone", in: "2026-11-20Z", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{name: "local date", in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.Local).UTC()},
		{name: "local minutes", in: "2026-11-20T10:30", want: time.Date(2026, 11, 20, 10, 30, 0, 0, time.Local).UTC()},
		{name: "empty", in: "", bad: true},
		{name: "junk", in: "yesterday", bad: true},
		{name: "bad date", in: "2026-13-40", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseTimeOrDuration(tc.in, now)
			assert.Check(t, is.Equal(ok, !tc.bad))
			if !tc.bad {
				assert.Check(t, got.Equal(tc.want), "got %s want %s", got, tc.want)
			}
		})
	}
}

// Bad filters are refused before anything is removed.
func TestContainerPruneFilterErrors(t *testing.T) {
	t.Parallel()
	d := &Daemon{}
	cases := []struct {
		name    string
		filters map[string]map[string]bool
		want    string
	}{
		{name: "unknown key", filters: map[string]map[string]bool{"status": {"exited": true}}, want: "invalid filter 'status'"},
		{name: "two until", filters: map[string]map[string]bool{"until": {"1h": true, "2h": true}}, want: "more than one until filter specified"},
		{name: "bad until", filters: map[string]map[string]bool{"until": {"soon": true}}, want: `failed to parse value as time or duration: "soon"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := d.ContainerPrune(context.Background(), tc.filters)
			assert.Check(t, errdefs.IsInvalidArgument(err), "err %v", err)
			assert.Check(t, is.ErrorContains(err, tc.want))
		})
	}
}
