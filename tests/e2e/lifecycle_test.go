package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// Scripts for PID 1 of test containers. A shell that is PID 1 of its PID
// namespace ignores signals it has no handler for, like any init.
const (
	// exits 0 on SIGTERM
	graceful = `trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.1; done`
	// logs SIGTERM and carries on, so only SIGKILL ends it
	stubborn = `trap "echo got TERM" TERM; echo ready; while :; do sleep 0.1; done`
)

// runDetached runs a detached busybox container named name with PID 1 `sh -c script`.
func runDetached(t *testing.T, d *daemon.Daemon, name, script string, extra ...string) {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, extra...)
	args = append(args, "busybox", "sh", "-c", script)
	d.Cmd(t, args...).Assert(t, icmd.Success)
	removeContainers(t, d, name)
}

// docker stop: SIGTERM, then SIGKILL after the timeout.
func TestStop(t *testing.T) {
	d := setup(t)
	cases := []struct {
		name     string
		script   string // empty: plain `sleep 300`
		args     []string
		exit     string
		atMost   time.Duration
		atLeast  time.Duration
		logsHave string
	}{
		// sleep as PID 1 has no TERM handler, so TERM is ignored and the KILL after 2s ends it.
		{name: "sleep is killed after the timeout", args: []string{"-t", "2"}, exit: "137", atLeast: 1500 * time.Millisecond, atMost: 12 * time.Second},
		{name: "TERM handler exits at once", script: graceful, exit: "0", atMost: 5 * time.Second, logsHave: "got TERM"},
		{name: "TERM trapped, killed within -t 1", script: stubborn, args: []string{"-t", "1"}, exit: "137", atLeast: 500 * time.Millisecond, atMost: 8 * time.Second, logsHave: "got TERM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := uniqueName(t)
			if tc.script == "" {
				d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "300").Assert(t, icmd.Success)
				removeContainers(t, d, name)
			} else {
				runDetached(t, d, name, tc.script)
				waitForLog(t, d, name, "ready")
			}

			start := time.Now()
			res := d.Cmd(t, append(append([]string{"stop"}, tc.args...), name)...)
			took := time.Since(start)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
			t.Logf("stop took %s", took)
			assert.Check(t, took <= tc.atMost, "stop took %s, want at most %s", took, tc.atMost)
			assert.Check(t, took >= tc.atLeast, "stop took %s, want at least %s", took, tc.atLeast)
			assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "exited "+tc.exit))
			if tc.logsHave != "" {
				res := d.Cmd(t, "logs", name)
				assert.Check(t, is.Contains(res.Stdout(), tc.logsHave))
			}
		})
	}
}

// docker kill with -s: a trapped signal reaches the process; 9, KILL and SIGKILL end it.
func TestKill(t *testing.T) {
	d := setup(t)

	t.Run("USR1 is delivered and handled", func(t *testing.T) {
		name := uniqueName(t)
		runDetached(t, d, name, `trap "echo got USR1" USR1; echo ready; while :; do sleep 0.1; done`)
		waitForLog(t, d, name, "ready")
		res := d.Cmd(t, "kill", "-s", "USR1", name)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
		waitForLog(t, d, name, "got USR1")
		assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
	})

	for _, sig := range []string{"9", "KILL", "SIGKILL", ""} {
		label := "-s " + sig
		if sig == "" {
			label = "default signal"
		}
		t.Run(label, func(t *testing.T) {
			name := uniqueName(t)
			runDetached(t, d, name, stubborn)
			args := []string{"kill"}
			if sig != "" {
				args = append(args, "-s", sig)
			}
			res := d.Cmd(t, append(args, name)...)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
			waitForState(t, d, name, "exited")
			assert.Check(t, is.Equal(inspect(t, d, "{{.State.ExitCode}}", name), "137"))
		})
	}

	t.Run("stopped container", func(t *testing.T) {
		name := uniqueName(t)
		d.Cmd(t, "create", "--name", name, "busybox", "true").Assert(t, icmd.Success)
		removeContainers(t, d, name)
		id := inspect(t, d, "{{.Id}}", name)
		res := d.Cmd(t, "kill", name)
		assertExit(t, res, 1)
		// dockerd 20.10: "Cannot kill container: <name>: Container <id> is not running";
		// Docker 25 lower-cased "container", Docker 28 also "cannot" (what hyperbox is held to).
		assert.Check(t, is.Regexp(`Error response from daemon: [Cc]annot kill container: `+name+`: [Cc]ontainer `+id+` is not running`, res.Stderr()))
	})
}

// docker restart: same container, new process, still running.
func TestRestart(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	runDetached(t, d, name, graceful)
	waitForLog(t, d, name, "ready")
	pid := inspect(t, d, "{{.State.Pid}}", name)
	started := inspect(t, d, "{{.State.StartedAt}}", name)

	res := d.Cmd(t, "restart", "-t", "1", name)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), name+"\n"))

	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
	assert.Check(t, inspect(t, d, "{{.State.Pid}}", name) != pid, "PID unchanged after restart")
	assert.Check(t, inspect(t, d, "{{.State.StartedAt}}", name) != started, "StartedAt unchanged after restart")
	// The first run logged "got TERM" on the way out; the second run logs ready again.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		out := d.Run("logs", name).Stdout()
		if strings.Count(out, "ready") < 2 {
			return poll.Continue("logs: %q", out)
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second))
	assert.Check(t, is.Contains(d.Cmd(t, "logs", name).Stdout(), "ready\ngot TERM\nready\n"))
}

// docker rm: -f removes a running container; without -f it refuses.
func TestRm(t *testing.T) {
	d := setup(t)

	t.Run("running without force", func(t *testing.T) {
		name := uniqueName(t)
		runDetached(t, d, name, stubborn)
		id := inspect(t, d, "{{.Id}}", name)
		res := d.Cmd(t, "rm", name)
		assertExit(t, res, 1)
		// dockerd ≤24 (incl. the 20.10 oracle):
		//   You cannot remove a running container <id>. Stop the container before attempting removal or force remove
		// Docker 25-27: cannot remove container "/<name>": container is running: stop the container before removing or force remove
		// Docker 28 (what hyperbox is held to) quotes the reference as given:
		//   cannot remove container "<name>": container is running: stop the container before removing or force remove
		want := regexp.MustCompile(`Error response from daemon: (You cannot remove a running container ` + id +
			`\. Stop the container before attempting removal or force remove|cannot remove container "/?` + name +
			`": container is running: stop the container before removing or force remove)`)
		assert.Check(t, is.Regexp(want, res.Stderr()))
		assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
	})

	t.Run("running with force", func(t *testing.T) {
		name := uniqueName(t)
		runDetached(t, d, name, stubborn)
		res := d.Cmd(t, "rm", "-f", name)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
		res = d.Cmd(t, "inspect", name)
		assertExit(t, res, 1)
		assert.Check(t, is.Contains(res.Stderr(), "Error: No such object: "+name))
	})

	t.Run("exited", func(t *testing.T) {
		name := uniqueName(t)
		d.Cmd(t, "run", "--name", name, "busybox", "true").Assert(t, icmd.Success)
		removeContainers(t, d, name)
		res := d.Cmd(t, "rm", name)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
	})
}

// Creating a second container with a name in use is a conflict, with Docker's sentence.
func TestNameConflict(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	res := d.Cmd(t, "create", "--name", name, "busybox", "true")
	res.Assert(t, icmd.Success)
	removeContainers(t, d, name)
	id := strings.TrimSpace(res.Stdout())
	assert.Assert(t, is.Regexp(`^[0-9a-f]{64}$`, id))

	want := `Conflict. The container name "/` + name + `" is already in use by container "` + id +
		`". You have to remove (or rename) that container to be able to reuse that name.`

	// The exit status is the CLI's: `docker create` exits 1 on daemon errors,
	// `docker run` exits 125 (CLI 28).
	res = d.Cmd(t, "create", "--name", name, "busybox", "true")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "Error response from daemon: "+want))

	res = d.Cmd(t, "run", "--name", name, "busybox", "true")
	assertExit(t, res, 125)
	assert.Check(t, is.Contains(res.Stderr(), want))

	// Names must be at least two characters of [a-zA-Z0-9][a-zA-Z0-9_.-].
	res = d.Cmd(t, "create", "--name", "x", "busybox", "true")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))
}

// Commands on a container that does not exist.
func TestNoSuchContainer(t *testing.T) {
	d := setup(t)
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		// The CLI tries every object type and then says "No such object".
		{name: "inspect", args: []string{"inspect", "nosuch"}, stderr: "Error: No such object: nosuch"},
		{name: "inspect --type container", args: []string{"inspect", "--type", "container", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
		{name: "rm", args: []string{"rm", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
		{name: "stop", args: []string{"stop", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
		{name: "start", args: []string{"start", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
		// dockerd ≤25 "Cannot kill container", Docker 28 "cannot kill container".
		{name: "kill", args: []string{"kill", "nosuch"}, stderr: "annot kill container: nosuch: No such container: nosuch"},
		{name: "logs", args: []string{"logs", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
		{name: "wait", args: []string{"wait", "nosuch"}, stderr: "Error response from daemon: No such container: nosuch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := d.Cmd(t, tc.args...)
			assertExit(t, res, 1)
			assert.Check(t, is.Contains(res.Stderr(), tc.stderr))
		})
	}
}

// docker wait prints the exit status, for a running and an exited container.
func TestWait(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	runDetached(t, d, name, "sleep 1; exit 5")

	res := icmd.RunCmd(d.Command("wait", name), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "5\n"))

	// Already exited: returns at once with the same status.
	res = d.Cmd(t, "wait", name)
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "5\n"))
}

// docker create, then docker start -a: output and exit status come through.
func TestCreateStartAttach(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	res := d.Cmd(t, "create", "--name", name, "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 4")
	res.Assert(t, icmd.Success)
	removeContainers(t, d, name)
	assert.Check(t, is.Regexp(`^[0-9a-f]{64}\n$`, res.Stdout()))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "created"))

	res = d.Cmd(t, "start", "-a", name)
	assertExit(t, res, 4)
	assert.Check(t, is.Equal(res.Stdout(), "hello\n"))
	assert.Check(t, is.Equal(res.Stderr(), "oops\n"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "exited 4"))

	// Without -a, start prints the name and returns.
	res = d.Cmd(t, "start", name)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), name+"\n"))
}

// docker attach to a running container streams its output until it exits.
func TestAttach(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	runDetached(t, d, name, `i=0; while [ $i -lt 1000 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done`)
	waitForLog(t, d, name, "tick 1")

	attach := icmd.StartCmd(d.Command("attach", "--no-stdin", "--sig-proxy=false", name))
	assert.NilError(t, attach.Error)
	t.Cleanup(func() {
		if attach.Cmd.ProcessState == nil {
			_ = attach.Cmd.Process.Kill()
			_ = attach.Cmd.Wait()
		}
	})
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if strings.Count(attach.Stdout(), "tick") < 3 {
			return poll.Continue("attach output so far: %q", attach.Stdout())
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))

	d.Cmd(t, "kill", name).Assert(t, icmd.Success)
	res := icmd.WaitOnCmd(20*time.Second, attach)
	// attach exits with the container's status.
	assertExit(t, res, 137)
	assert.Check(t, is.Regexp(`(?m)^tick \d+\ntick \d+\n`, res.Stdout()))
}
