package e2e

import (
	"os/exec"
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

// term is a real terminal: the docker CLI runs in a tmux pane (a pty) that
// the test types into and reads back.
type term struct {
	t      *testing.T
	socket string
	name   string
}

func newTerm(t *testing.T, d *daemon.Daemon, args ...string) *term {
	t.Helper()
	_, err := exec.LookPath("tmux")
	skip.If(t, err != nil, "tmux is not installed")
	tm := &term{t: t, socket: uniqueName(t), name: "s"}
	// The pane outlives the CLI and shows its exit status: the CLI runs
	// under a shell that prints "[exit=N]" and then waits.
	cmd := append([]string{"env"}, d.Env()...)
	cmd = append(cmd, "sh", "-c", `"$@"; echo "[exit=$?]"; exec sleep 3600`, "sh", daemon.CLIPath())
	cmd = append(cmd, args...)
	tmux := append([]string{"-L", tm.socket, "new-session", "-d", "-s", tm.name, "-x", "100", "-y", "30"}, cmd...)
	out, err := exec.Command("tmux", tmux...).CombinedOutput()
	assert.NilError(t, err, string(out))
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

func (tm *term) keys(keys ...string) {
	tm.t.Helper()
	args := append([]string{"-L", tm.socket, "send-keys", "-t", tm.name}, keys...)
	out, err := exec.Command("tmux", args...).CombinedOutput()
	assert.NilError(tm.t, err, string(out))
}

func (tm *term) screen() string {
	out, _ := exec.Command("tmux", "-L", tm.socket, "capture-pane", "-p", "-t", tm.name).Output()
	return string(out)
}

// waitFor polls the screen until it contains s.
func (tm *term) waitFor(s string) {
	tm.t.Helper()
	poll.WaitOn(tm.t, func(poll.LogT) poll.Result {
		if strings.Contains(tm.screen(), s) {
			return poll.Success()
		}
		return poll.Continue("screen does not show %q:\n%s", s, tm.screen())
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))
}

// waitForCmd types cmd until the screen shows want: the window size
// reaches the container asynchronously (SIGWINCH -> CLI -> resize API).
func (tm *term) waitForCmd(cmd, want string) {
	tm.t.Helper()
	poll.WaitOn(tm.t, func(poll.LogT) poll.Result {
		if strings.Contains(tm.screen(), want) {
			return poll.Success()
		}
		tm.keys(cmd, "Enter")
		return poll.Continue("screen does not show %q:\n%s", want, tm.screen())
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(300*time.Millisecond))
}

func (tm *term) resize(w, h string) {
	tm.t.Helper()
	out, err := exec.Command("tmux", "-L", tm.socket, "resize-window", "-t", tm.name, "-x", w, "-y", h).CombinedOutput()
	assert.NilError(tm.t, err, string(out))
}

// docker run -it: a shell with line editing and the terminal size, window
// resizes reach it, Ctrl-C interrupts the foreground command, Ctrl-P Ctrl-Q
// detaches and docker attach comes back.
func TestRunInteractiveTTY(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	tm := newTerm(t, d, "run", "-it", "--name", name, "busybox", "sh")
	tm.waitFor("/ #")

	tm.keys("echo tty-$((40+2)); stty size", "Enter")
	tm.waitFor("tty-42")
	tm.waitFor("30 100")

	// Line editing: backspace removes the typo before Enter.
	tm.keys("echo abX", "BSpace", "c", "Enter")
	tm.waitFor("abc")

	tm.resize("80", "20")
	tm.waitForCmd("stty size", "20 80")

	// Ctrl-C reaches the foreground process, not the container.
	tm.keys("sleep 100; echo after-sleep", "Enter")
	time.Sleep(300 * time.Millisecond)
	tm.keys("C-c")
	tm.keys("echo interrupted", "Enter")
	tm.waitFor("interrupted")
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))

	// Detach: the CLI exits, the container keeps running.
	tm.keys("C-p", "C-q")
	assert.Check(t, is.Equal(waitDead(t, tm), "0"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))

	// Re-attach in a new terminal and use the same shell.
	tm2 := newTerm(t, d, "attach", name)
	time.Sleep(300 * time.Millisecond)
	tm2.keys("echo back-$((1+1))", "Enter")
	tm2.waitFor("back-2")
	tm2.keys("exit", "Enter")
	waitInspect(t, name, "{{.State.Status}}", "exited", 20*time.Second)
}

// waitDead waits until the CLI in the terminal has exited and returns its
// exit status.
func waitDead(t *testing.T, tm *term) string {
	t.Helper()
	var code string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		scr := tm.screen()
		if i := strings.Index(scr, "[exit="); i >= 0 {
			code, _, _ = strings.Cut(scr[i+len("[exit="):], "]")
			return poll.Success()
		}
		return poll.Continue("CLI still running:\n%s", scr)
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))
	return code
}

// docker exec -it runs in its own terminal; --detach-keys picks the keys.
func TestExecInteractiveTTY(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "300").Assert(t, icmd.Success)
	tm := newTerm(t, d, "exec", "-it", "--detach-keys", "ctrl-a,x", name, "sh")
	tm.waitFor("/ #")
	tm.keys("tty; stty size", "Enter")
	tm.waitFor("/dev/pts/")
	tm.waitFor("30 100")
	tm.resize("90", "25")
	tm.waitForCmd("stty size", "25 90")
	tm.keys("C-a", "x")
	// The CLI ends (docker exec reports the detach as exit 1; docker run
	// and attach as 0) and the container keeps running.
	waitDead(t, tm)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))

	tm2 := newTerm(t, d, "exec", "-it", name, "sh", "-c", "echo exit-code-test; exit 3")
	tm2.waitFor("exit-code-test")
	assert.Check(t, is.Equal(waitDead(t, tm2), "3"))
}

// Signals sent to `docker run` are proxied to the container (sig-proxy).
func TestRunSigProxy(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	cmd := d.Command("run", "--name", name, "busybox", "sh", "-c",
		`trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done`)
	res := icmd.StartCmd(cmd)
	assert.NilError(t, res.Error)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if d.Run("inspect", name).ExitCode == 0 {
			return poll.Success()
		}
		return poll.Continue("container not created yet")
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(50*time.Millisecond))
	waitForLog(t, d, name, "ready")
	assert.NilError(t, res.Cmd.Process.Signal(syscall.SIGUSR1))
	waitForLog(t, d, name, "got-USR1")
	assert.NilError(t, res.Cmd.Process.Signal(syscall.SIGTERM))
	res = icmd.WaitOnCmd(30*time.Second, res)
	assertExit(t, res, 7)
	assert.Check(t, is.Contains(res.Stdout(), "got-TERM"))
}
