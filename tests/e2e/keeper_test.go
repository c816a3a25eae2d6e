package e2e

import (
	"fmt"
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
	// The container's task is deleted after `docker run` has its exit:
	// under load, a shim that served only that container (one that lost
	// the race for the group's socket, upstream behaviour) may still be on
	// its way out. What must remain is exactly one.
	oneShim := func() []int {
		t.Helper()
		var pids []int
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if pids = shimPids(t, d); len(pids) != 1 {
				return poll.Continue("shims: %s", describePids(pids))
			}
			return poll.Success()
		}, poll.WithTimeout(10*time.Second), poll.WithDelay(100*time.Millisecond))
		return pids
	}
	first := oneShim()
	d.Cmd(t, "run", "--rm", "busybox", "echo", "again").Assert(t, icmd.Expected{Out: "again"})
	assert.Check(t, is.DeepEqual(oneShim(), first), "the next container uses the same shim")
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
	next := oneShim()
	assert.Check(t, next[0] != first[0], "a new shim after the idle spell")

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

// describePids gives the command lines of pids, for failure messages.
func describePids(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		fmt.Fprintf(&b, "\n%d: %s", pid, strings.ReplaceAll(string(raw), "\x00", " "))
	}
	return b.String()
}
