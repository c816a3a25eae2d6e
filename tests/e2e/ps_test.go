package e2e

import (
	"sort"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker ps with -a, -q, --no-trunc, -n and the common filters, over three
// containers: one created, one exited with status 3, one running.
func TestPs(t *testing.T) {
	d := setup(t)
	prefix := uniqueName(t)
	created, exited, running := prefix+"-created", prefix+"-exited", prefix+"-running"
	removeContainers(t, d, created, exited, running)

	d.Cmd(t, "create", "--name", created, "--label", "k=v", "--label", "role=idle", "busybox", "true").Assert(t, icmd.Success)
	assertExit(t, d.Cmd(t, "run", "--name", exited, "--label", "role=done", "busybox", "sh", "-c", "exit 3"), 3)
	d.Cmd(t, "run", "-d", "--name", running, "--label", "k=v", "busybox", "sleep", "300").Assert(t, icmd.Success)
	ids := map[string]string{}
	for _, n := range []string{created, exited, running} {
		ids[n] = inspect(t, d, "{{.Id}}", n)
	}

	byName := "name=" + prefix
	cases := []struct {
		name string
		args []string // after "ps --format {{.Names}}"
		want []string
	}{
		{name: "running only by default", args: []string{"--filter", byName}, want: []string{running}},
		{name: "all", args: []string{"-a", "--filter", byName}, want: []string{created, exited, running}},
		{name: "label key=value", args: []string{"-a", "--filter", byName, "--filter", "label=k=v"}, want: []string{created, running}},
		{name: "label key", args: []string{"-a", "--filter", byName, "--filter", "label=role"}, want: []string{created, exited}},
		{name: "two labels must both match", args: []string{"-a", "--filter", byName, "--filter", "label=k=v", "--filter", "label=role=idle"}, want: []string{created}},
		{name: "status=exited", args: []string{"-a", "--filter", byName, "--filter", "status=exited"}, want: []string{exited}},
		{name: "status=created", args: []string{"-a", "--filter", byName, "--filter", "status=created"}, want: []string{created}},
		{name: "status=running", args: []string{"-a", "--filter", byName, "--filter", "status=running"}, want: []string{running}},
		{name: "ancestor=busybox", args: []string{"-a", "--filter", byName, "--filter", "ancestor=busybox"}, want: []string{created, exited, running}},
		{name: "exited=3", args: []string{"-a", "--filter", byName, "--filter", "exited=3"}, want: []string{exited}},
		{name: "exited=0", args: []string{"-a", "--filter", byName, "--filter", "exited=0"}, want: nil},
		{name: "id prefix", args: []string{"-a", "--filter", "id=" + ids[running][:12]}, want: []string{running}},
		{name: "exact name", args: []string{"-a", "--filter", "name=" + exited}, want: []string{exited}},
		{name: "last created", args: []string{"-a", "-n", "1", "--filter", byName}, want: []string{running}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := d.Cmd(t, append([]string{"ps", "--format", "{{.Names}}"}, tc.args...)...)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.DeepEqual(sorted(lines(res.Stdout())), sorted(tc.want)))
		})
	}

	t.Run("quiet prints short IDs", func(t *testing.T) {
		res := d.Cmd(t, "ps", "-a", "-q", "--filter", byName)
		res.Assert(t, icmd.Success)
		want := []string{ids[created][:12], ids[exited][:12], ids[running][:12]}
		assert.Check(t, is.DeepEqual(sorted(lines(res.Stdout())), sorted(want)))
	})

	t.Run("quiet no-trunc prints full IDs", func(t *testing.T) {
		res := d.Cmd(t, "ps", "-a", "-q", "--no-trunc", "--filter", byName)
		res.Assert(t, icmd.Success)
		want := []string{ids[created], ids[exited], ids[running]}
		assert.Check(t, is.DeepEqual(sorted(lines(res.Stdout())), sorted(want)))
	})

	t.Run("table", func(t *testing.T) {
		res := d.Cmd(t, "ps", "-a", "--filter", byName)
		res.Assert(t, icmd.Success)
		out := res.Stdout()
		assert.Check(t, is.Regexp(`^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n`, out))
		assert.Check(t, is.Regexp(`(?m)^`+ids[exited][:12]+`\s+busybox\s+"sh -c 'exit 3'"\s+.*\s+Exited \(3\) .* ago\s+`+exited+`$`, out))
		assert.Check(t, is.Regexp(`(?m)^`+ids[running][:12]+`\s+busybox\s+"sleep 300"\s+.*\s+Up .*\s+`+running+`$`, out))
		assert.Check(t, is.Regexp(`(?m)^`+ids[created][:12]+`\s+busybox\s+"true"\s+.*\s+Created\s+`+created+`$`, out))
	})

	t.Run("state and status columns", func(t *testing.T) {
		res := d.Cmd(t, "ps", "-a", "--filter", "name="+exited, "--format", "{{.State}}|{{.Status}}|{{.Image}}|{{.Command}}")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Regexp(`^exited\|Exited \(3\) .+ ago\|busybox\|"sh -c 'exit 3'"\n$`, res.Stdout()))
	})
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}
