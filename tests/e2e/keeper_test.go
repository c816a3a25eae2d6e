package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// shimPids lists the runc-v2 shims serving the daemon's containerd: not
// the short-lived `start` and `delete` commands containerd runs.
func shimPids(t *testing.T, d *daemon.Daemon) []int {
	t.Helper()
	address := filepath.Join(d.ExecRoot(), "containerd", "containerd.sock")
	var pids []int
	for _, pid := range procsWith(t, "containerd-shim-runc-v2", "-address "+address) {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if err == nil && args[len(args)-1] != "start" && args[len(args)-1] != "delete" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestShimKeeper: one shim serves containers run one after another (the
// keeper holds it between them), the keeper is no Docker container, and
// the shim goes once the daemon has been idle for --shim-linger, to come
// back with the next container. containerd's `start` of the shim is
// answered by hyperbox-shim from what it kept of the first one.
func TestShimKeeper(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "the shim keeper is HyperBox's")
	d := daemon.Start(t, daemon.WithArgs("--shim-linger", "2s"))
	d.LogOnFailure(t)
	assert.NilError(t, loadBusybox(d))

	d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	first := shimPids(t, d)
	assert.Assert(t, is.Len(first, 1), "one shared shim stays after the container is gone")
	d.Cmd(t, "run", "--rm", "busybox", "echo", "again").Assert(t, icmd.Expected{Out: "again"})
	assert.Check(t, is.DeepEqual(shimPids(t, d), first), "the next container uses the same shim")
	assert.Check(t, is.Equal(strings.TrimSpace(d.Cmd(t, "ps", "-aq").Assert(t, icmd.Success).Stdout()), ""),
		"the keeper is not a Docker container")
	kept, _ := filepath.Glob(filepath.Join(d.ExecRoot(), "containerd", "hyperbox-shim.*"))
	assert.Check(t, is.Len(kept, 1), "hyperbox-shim keeps the shim's start reply")

	// Idle for longer than --shim-linger: no shim left.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if p := shimPids(t, d); len(p) > 0 {
			return poll.Continue("shims %v still run", p)
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(200*time.Millisecond))

	// The kept reply names a shim that is gone: the next start spawns one.
	d.Cmd(t, "run", "--rm", "busybox", "echo", "back").Assert(t, icmd.Expected{Out: "back"})
	next := shimPids(t, d)
	assert.Check(t, is.Len(next, 1))
	assert.Check(t, len(next) == 1 && next[0] != first[0], "a new shim after the idle spell")

	// A stop takes the keeper along; with no container left the shim goes.
	d.Stop(t)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if p := shimPids(t, d); len(p) > 0 {
			return poll.Continue("shims %v still run", p)
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(100*time.Millisecond))
	d.Restart(t)
	d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
}
