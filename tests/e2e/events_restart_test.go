package e2e

import (
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/skip"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// The daemon's recovery after a restart reports what happened while it
// was away: a container that exited meanwhile gets its die event (with the
// exit code) and a restart-policy container its start.
func TestEventsAfterDaemonRestart(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	d.Cmd(t, "run", "-d", "--name", "quits", "busybox", "sh", "-c", "sleep 1; exit 4").Assert(t, icmd.Success)
	id := inspectOn(t, d, "{{.Id}}", "quits")

	d.Stop(t)
	time.Sleep(2 * time.Second) // the container exits while the daemon is down
	since := time.Now()
	d.Restart(t)
	waitInspectOn(t, d, "quits", "{{.State.Status}} {{.State.ExitCode}}", "exited 4")

	evs := eventsBetween(t, d, since, time.Now(), "container=quits")
	if daemon.IsOracle() {
		// dockerd (20.10 and current) records the exit silently when it
		// restores; hyperbox reports the state change it found as a die
		// event, so that clients watching events (compose) see the exit.
		assert.Check(t, is.Len(evs, 0))
		return
	}
	assert.Check(t, is.DeepEqual(actionsOf(evs, id), []string{"die"}))
	if len(evs) == 1 {
		assert.Check(t, is.Equal(evs[0].Actor.Attributes["exitCode"], "4"))
		assert.Check(t, is.Equal(evs[0].Actor.Attributes["name"], "quits"))
	}
}

func waitInspectOn(t *testing.T, d *daemon.Daemon, name, format, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := d.Run("inspect", "--format", format, name).Stdout()
		if len(got) > 0 && got[:len(got)-1] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: got %q, want %q", name, format, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
