package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// childContainerd finds the containerd process the daemon runs as its child
// (hyperboxd's embedded one; dockerd 20.10 also supervises its own).
func childContainerd(t *testing.T, parent int) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	assert.NilError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		rest := s[strings.LastIndexByte(s, ')')+2:]
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		if strings.Contains(s, "(containerd)") {
			return pid
		}
	}
	return 0
}

// When the containerd the daemon supervises dies, the daemon starts a new
// one; running containers are unaffected and the API keeps working.
func TestContainerdChildRestarted(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	d.Cmd(t, "run", "-d", "--name", "survivor", "busybox", "sleep", "300").Assert(t, icmd.Success)
	pid := inspect(t, d, "{{.State.Pid}}", "survivor")

	old := childContainerd(t, d.Pid())
	assert.Assert(t, old > 0, "no containerd child of daemon pid %d", d.Pid())
	assert.NilError(t, syscall.Kill(old, syscall.SIGKILL))

	poll.WaitOn(t, func(poll.LogT) poll.Result {
		n := childContainerd(t, d.Pid())
		if n == 0 || n == old {
			return poll.Continue("containerd not restarted yet")
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))

	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("run", "--rm", "busybox", "echo", "after-restart")
		if res.ExitCode != 0 || res.Stdout() != "after-restart\n" {
			return poll.Continue("run after containerd restart: %s", res.String())
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(300*time.Millisecond))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.Pid}}", "survivor"), "running "+pid))
	d.Cmd(t, "stop", "-t", "1", "survivor").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", "survivor"), "exited"))
}
