package daemon

import (
	"os"
	"path/filepath"
	"strings"
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

// A daemon started WithNetworking leaves no interface, mount, listener or
// firewall rule of its own behind, even when it still has a network and a
// container with a published port at shutdown.
func TestShutdownWithNetworkingLeavesNothing(t *testing.T) {
	skip.If(t, testing.Short(), "starts a daemon")
	before, err := SnapshotHost()
	assert.NilError(t, err)
	d, err := Launch(WithNetworking())
	assert.NilError(t, err)
	shutDown := false
	t.Cleanup(func() {
		if !shutDown {
			_ = d.Shutdown()
		}
	})
	assert.NilError(t, d.LoadBusybox("busybox:latest"))
	d.Cmd(t, "network", "create", "leftover").Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", "web", "--network", "leftover", "-p", "80", "busybox", "httpd", "-f", "-p", "80").Assert(t, icmd.Success)

	// What the network and the container have on the host.
	ifaces := HostInterfaces()
	netID := strings.TrimSpace(d.Cmd(t, "network", "inspect", "-f", "{{.Id}}", "leftover").Stdout())
	gateway := strings.TrimSpace(d.Cmd(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "leftover").Stdout())
	port := strings.TrimSpace(d.Cmd(t, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, "web").Stdout())
	iflink := strings.TrimSpace(d.Cmd(t, "exec", "web", "cat", "/sys/class/net/eth0/iflink").Stdout())
	tokens := []string{ifaces.Bridge(gateway, netID), ifaces.ByIndex[iflink], port}
	for _, tok := range tokens {
		assert.Assert(t, tok != "", "tokens %q", tokens)
	}
	up, err := SnapshotHost()
	assert.NilError(t, err)
	added, _ := before.DiffNaming(up, tokens, d.root)
	assert.Check(t, len(added) > 0, "nothing of the network on the host")

	shutDown = true
	assert.NilError(t, d.Shutdown())

	after, err := SnapshotHost()
	assert.NilError(t, err)
	left, others := before.DiffNaming(after, tokens, d.root)
	assert.Check(t, is.Len(left, 0), "left on the host:\n%s", strings.Join(left, "\n"))
	for _, l := range others {
		assert.Check(t, !strings.Contains(l, "DOCKER"), "left on the host: %s", l)
	}
}
