package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/skip"
)

func TestUnescapeMountinfo(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{name: "plain", in: "/tmp/a/b", want: "/tmp/a/b"},
		{name: "space", in: `/tmp/a\040b`, want: "/tmp/a b"},
		{name: "tab and backslash", in: `/x\011y\134z`, want: "/x\ty\\z"},
		{name: "trailing backslash", in: `/x\`, want: `/x\`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, is.Equal(unescapeMountinfo(tc.in), tc.want))
		})
	}
}

func TestTarget(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{name: "default", env: "", want: TargetHyperbox},
		{name: "hyperbox", env: "hyperbox", want: TargetHyperbox},
		{name: "dockerd", env: "dockerd", want: TargetDockerd},
		{name: "docker alias", env: "docker", want: TargetDockerd},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvTarget, tc.env)
			assert.Check(t, is.Equal(Target(), tc.want))
		})
	}
}

func TestCLIPath(t *testing.T) {
	t.Setenv(EnvDockerCLI, "/opt/docker-cli")
	assert.Check(t, is.Equal(CLIPath(), "/opt/docker-cli"))
	t.Setenv(EnvDockerCLI, "")
	if _, err := os.Stat("/usr/local/bin/docker"); err == nil {
		assert.Check(t, is.Equal(CLIPath(), "/usr/local/bin/docker"))
	}
}

// Shutdown leaves no process, mount or directory behind, even with a running
// container (and, for dockerd, its containerd and shim).
func TestShutdownLeavesNothing(t *testing.T) {
	skip.If(t, testing.Short(), "starts a daemon")
	d, err := Launch()
	assert.NilError(t, err)
	shutDown := false
	t.Cleanup(func() {
		if !shutDown {
			_ = d.Shutdown()
		}
	})

	archive := filepath.Join(t.TempDir(), "busybox.tar")
	busybox.WriteDockerArchive(t, archive, "busybox:latest")
	d.Cmd(t, "load", "-i", archive).Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", "sleeper", "busybox", "sleep", "300").Assert(t, icmd.Success)
	pid := d.Cmd(t, "inspect", "--format", "{{.State.Pid}}", "sleeper")
	pid.Assert(t, icmd.Success)

	mounts, err := MountsUnder(d.root)
	assert.NilError(t, err)
	assert.Check(t, len(mounts) > 0, "a running container should have mounts under %s", d.root)
	assert.Check(t, len(procsUnder(d.root)) > 0, "a running container should have processes under %s", d.root)

	shutDown = true
	assert.NilError(t, d.Shutdown())

	assert.Check(t, is.Len(procsUnder(d.root), 0))
	mounts, err = MountsUnder(d.root)
	assert.NilError(t, err)
	assert.Check(t, is.Len(mounts, 0))
	_, err = os.Stat(d.root)
	assert.Check(t, os.IsNotExist(err), "%s still exists", d.root)
}
