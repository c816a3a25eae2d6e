package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker run -d, then docker logs -f: sees every line and ends when the container exits.
func TestLogsFollow(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)

	res := d.Cmd(t, "run", "-d", "--name", name, "busybox", "sh", "-c",
		"for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo problem >&2")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`^[0-9a-f]{64}\n$`, res.Stdout()))

	start := time.Now()
	res = icmd.RunCmd(d.Command("logs", "-f", name), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "line1\nline2\nline3\nline4\nline5\n"))
	assert.Check(t, is.Equal(res.Stderr(), "problem\n"))
	t.Logf("logs -f returned after %s", time.Since(start))
	// Once logs -f has ended the container is seen as exited: dockerd closes
	// the log stream and records the exit under one container lock
	// (handleContainerExit), so `logs -f c; inspect c` never sees "running".
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "exited"))
}

// docker logs --tail, --timestamps, --since and --until on an exited container.
func TestLogsOptions(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)

	res := d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c",
		"echo early1; echo early2; echo early3; sleep 1.5; echo late1; echo late2")
	res.Assert(t, icmd.Success)

	t.Run("all", func(t *testing.T) {
		res := d.Cmd(t, "logs", name)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), "early1\nearly2\nearly3\nlate1\nlate2\n"))
	})

	t.Run("tail", func(t *testing.T) {
		cases := []struct {
			name string
			tail string
			want string
		}{
			{name: "two", tail: "2", want: "late1\nlate2\n"},
			{name: "zero", tail: "0", want: ""},
			{name: "more than there is", tail: "100", want: "early1\nearly2\nearly3\nlate1\nlate2\n"},
			{name: "all", tail: "all", want: "early1\nearly2\nearly3\nlate1\nlate2\n"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := d.Cmd(t, "logs", "--tail", tc.tail, name)
				res.Assert(t, icmd.Success)
				assert.Check(t, is.Equal(res.Stdout(), tc.want))
			})
		}
	})

	// RFC 3339 with nanoseconds in UTC, one space, then the line.
	tsLine := regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,9}Z) (\S+)$`)
	stamps := map[string]time.Time{}
	t.Run("timestamps", func(t *testing.T) {
		res := d.Cmd(t, "logs", "--timestamps", name)
		res.Assert(t, icmd.Success)
		ls := lines(res.Stdout())
		assert.Assert(t, is.Len(ls, 5), res.Stdout())
		for _, l := range ls {
			m := tsLine.FindStringSubmatch(l)
			assert.Assert(t, m != nil, "line %q has no timestamp prefix", l)
			ts, err := time.Parse(time.RFC3339Nano, m[1])
			assert.NilError(t, err)
			stamps[m[2]] = ts
		}
		assert.Check(t, stamps["late1"].Sub(stamps["early3"]) >= time.Second,
			"early3 at %s, late1 at %s", stamps["early3"], stamps["late1"])
	})

	t.Run("since and until", func(t *testing.T) {
		early, late := stamps["early3"], stamps["late1"]
		assert.Assert(t, !early.IsZero() && !late.IsZero(), "timestamps subtest did not record stamps")
		mid := early.Add(late.Sub(early) / 2)
		cases := []struct {
			name string
			args []string
			want string
		}{
			{name: "since RFC 3339", args: []string{"--since", mid.Format(time.RFC3339Nano)}, want: "late1\nlate2\n"},
			{name: "since unix seconds", args: []string{"--since", unixNano(mid)}, want: "late1\nlate2\n"},
			{name: "until RFC 3339", args: []string{"--until", mid.Format(time.RFC3339Nano)}, want: "early1\nearly2\nearly3\n"},
			{name: "since before everything", args: []string{"--since", early.Add(-time.Hour).Format(time.RFC3339Nano)}, want: "early1\nearly2\nearly3\nlate1\nlate2\n"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res := d.Cmd(t, append(append([]string{"logs"}, tc.args...), name)...)
				res.Assert(t, icmd.Success)
				assert.Check(t, is.Equal(res.Stdout(), tc.want))
			})
		}
	})
}

// unixNano formats t as "seconds.nanoseconds", the other --since syntax.
func unixNano(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
