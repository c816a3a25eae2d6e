package compat

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/engine"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "zero", in: "0"},
		{name: "seconds", in: "1717171717", want: time.Unix(1717171717, 0)},
		{name: "nanos", in: "1717171717.123456789", want: time.Unix(1717171717, 123456789)},
		{name: "short fraction", in: "1717171717.5", want: time.Unix(1717171717, 500000000)},
		{name: "garbage", in: "yesterday", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTimestamp(tc.in)
			if tc.wantErr {
				assert.Assert(t, err != nil)
				return
			}
			assert.NilError(t, err)
			assert.Assert(t, got.Equal(tc.want), "got %v", got)
		})
	}
}

func TestPullRef(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, from, tag, want string }{
		{name: "short", from: "busybox", want: "docker.io/library/busybox:latest"},
		{name: "tag param", from: "busybox", tag: "1.36", want: "docker.io/library/busybox:1.36"},
		{name: "trailing colon", from: "busybox:", want: "docker.io/library/busybox:latest"},
		{name: "local registry", from: "localhost:5000/e2e/bb", tag: "v1", want: "localhost:5000/e2e/bb:v1"},
		{name: "digest tag", from: "busybox", tag: "sha256:" + sixtyFour, want: "docker.io/library/busybox@sha256:" + sixtyFour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pullRef(tc.from, tc.tag)
			assert.NilError(t, err)
			assert.Equal(t, got.String(), tc.want)
		})
	}
	_, err := pullRef("Busybox", "")
	assert.ErrorContains(t, err, "invalid reference format")
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestStatusText(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	tests := []struct {
		name string
		st   engine.State
		want string
	}{
		{name: "created", st: engine.State{Status: engine.StatusCreated}, want: "Created"},
		{name: "running", st: engine.State{Status: engine.StatusRunning, StartedAt: now.Add(-3 * time.Minute)}, want: "Up 3 minutes"},
		{name: "exited", st: engine.State{Status: engine.StatusExited, ExitCode: 3, FinishedAt: now.Add(-5 * time.Second)}, want: "Exited (3) 5 seconds ago"},
		{name: "dead", st: engine.State{Status: engine.StatusDead}, want: "Dead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, statusText(&tc.st), tc.want)
		})
	}
}

func TestMatchLabels(t *testing.T) {
	t.Parallel()
	labels := map[string]string{"a": "1", "b": "2"}
	assert.Assert(t, matchLabels(map[string]bool{"a": true}, labels))
	assert.Assert(t, matchLabels(map[string]bool{"a=1": true, "b=2": true}, labels))
	// Every label must match (not any).
	assert.Assert(t, !matchLabels(map[string]bool{"a=1": true, "b=3": true}, labels))
	assert.Assert(t, !matchLabels(map[string]bool{"c": true}, labels))
}
