package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// Containers and images survive a daemon restart; a running container keeps
// running (same process) and its log keeps both old and new lines.
func TestDaemonRestartPersistence(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	// A daemon of its own: restarting the shared one would disturb other tests.
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))

	const ticker, stopped, created = "ticker", "stopped", "created"
	d.Cmd(t, "run", "-d", "--name", ticker, "busybox", "sh", "-c",
		`i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done`).Assert(t, icmd.Success)
	assertExit(t, d.Cmd(t, "run", "--name", stopped, "busybox", "sh", "-c", "echo bye; exit 2"), 2)
	d.Cmd(t, "create", "--name", created, "--label", "k=v", "busybox", "true").Assert(t, icmd.Success)
	waitForLog(t, d, ticker, "tick 3")

	psBefore := psState(t, d)
	imagesBefore := imageList(t, d)
	pid := inspect(t, d, "{{.State.Pid}}", ticker)
	lastBefore := lastTick(t, d, ticker)
	assert.Check(t, is.Len(psBefore, 3))

	d.Restart(t)

	assert.Check(t, is.DeepEqual(psState(t, d), psBefore))
	assert.Check(t, is.DeepEqual(imageList(t, d), imagesBefore))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", ticker), "running"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Pid}}", ticker), pid), "live restore must keep the same process")
	n, err := strconv.Atoi(pid)
	assert.NilError(t, err)
	assert.Check(t, syscall.Kill(n, 0), "process %d of the running container is gone", n)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", stopped), "exited 2"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", created), "created"))
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Config.Labels "k"}}`, created), "v"))
	assert.Check(t, is.Equal(d.Cmd(t, "logs", stopped).Stdout(), "bye\n"))

	// Lines from before the restart are still there, and new ones arrive.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if last := lastTick(t, d, ticker); last < lastBefore+5 {
			return poll.Continue("last tick %d, want at least %d", last, lastBefore+5)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	logs := d.Cmd(t, "logs", ticker).Stdout()
	assert.Check(t, strings.HasPrefix(logs, "tick 0\ntick 1\n"), "logs start with %q", firstLine(logs))
	assert.Check(t, is.Contains(logs, fmt.Sprintf("tick %d\n", lastBefore)))

	// The restarted daemon still controls the container.
	d.Cmd(t, "stop", "-t", "1", ticker).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", ticker), "exited"))
	d.Cmd(t, "start", stopped).Assert(t, icmd.Success)
	res := icmd.RunCmd(d.Command("wait", stopped), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "2\n"))
}

// psState lists "ID name state" of all containers, sorted.
func psState(t *testing.T, d *daemon.Daemon) []string {
	t.Helper()
	res := d.Cmd(t, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Image}}")
	res.Assert(t, icmd.Success)
	out := lines(res.Stdout())
	sort.Strings(out)
	return out
}

// imageList lists "repo:tag id" of all images, sorted.
func imageList(t *testing.T, d *daemon.Daemon) []string {
	t.Helper()
	res := d.Cmd(t, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
	res.Assert(t, icmd.Success)
	out := lines(res.Stdout())
	sort.Strings(out)
	return out
}

var tickLine = regexp.MustCompile(`(?m)^tick (\d+)$`)

func lastTick(t *testing.T, d *daemon.Daemon, name string) int {
	t.Helper()
	res := d.Run("logs", "--tail", "5", name)
	assert.Assert(t, res.ExitCode == 0, res.String())
	m := tickLine.FindAllStringSubmatch(res.Stdout(), -1)
	assert.Assert(t, len(m) > 0, "no tick lines in %q", res.Stdout())
	n, err := strconv.Atoi(m[len(m)-1][1])
	assert.NilError(t, err)
	return n
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
