package compose

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// `compose logs -f` streams stdout and stderr of the service and ends by
// itself, with status 0, once the service's container stops.
func TestComposeLogsFollowEndsOnStop(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "logs")
	p.ok(t, "up", "-d", "--wait")

	t.Logf("$ docker compose -p %s logs -f --no-color talker &", p.name)
	follow := icmd.StartCmd(p.command(composeTimeout, "logs", "-f", "--no-color", "talker"))
	assert.NilError(t, follow.Error)
	t.Cleanup(func() {
		if follow.Cmd.ProcessState == nil {
			// coreutils timeout passes SIGTERM on to the CLI and the plugin.
			_ = follow.Cmd.Process.Signal(syscall.SIGTERM)
			icmd.WaitOnCmd(10*time.Second, follow)
		}
	})
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		out := follow.Stdout()
		if !strings.Contains(out, "line one") || !strings.Contains(out, "line two") {
			return poll.Continue("logs -f so far: %q", out)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))

	p.ok(t, "stop", "talker")

	res := icmd.WaitOnCmd(30*time.Second, follow)
	assert.Assert(t, !res.Timeout, "logs -f still running 30s after the service stopped: %s", res.String())
	assert.Check(t, is.Equal(res.ExitCode, 0), res.String())
	assert.Check(t, is.Contains(res.Stdout(), "talker got SIGTERM"))
}
