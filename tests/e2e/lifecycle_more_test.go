package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/skip"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// waitInspect polls `docker inspect --format format` until it equals want.
func waitInspect(t *testing.T, name, format, want string, timeout time.Duration) {
	t.Helper()
	d := shared
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("inspect", "--format", format, name)
		if got := strings.TrimSpace(res.Stdout()); got != want {
			return poll.Continue("%s: %q, want %q", format, got, want)
		}
		return poll.Success()
	}, poll.WithTimeout(timeout), poll.WithDelay(100*time.Millisecond))
}

// Health checks from `docker run --health-*`: starting, healthy, unhealthy
// after Retries failures, with the probe log in inspect and the state in ps.
func TestHealthcheck(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name,
		"--health-cmd", "test -f /tmp/ok && echo fine", "--health-interval", "200ms", "--health-retries", "2",
		"busybox", "sh", "-c", "sleep 1; touch /tmp/ok; sleep 300").Assert(t, icmd.Success)

	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Health.Status}}", name), "starting"))
	assert.Check(t, is.Contains(d.Cmd(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}").Stdout(), "(health: starting)"))
	waitInspect(t, name, "{{.State.Health.Status}}", "healthy", 20*time.Second)
	assert.Check(t, is.Contains(d.Cmd(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}").Stdout(), "(healthy)"))
	assert.Check(t, is.Contains(d.Cmd(t, "ps", "--filter", "health=healthy", "--format", "{{.Names}}").Stdout(), name))

	var h struct {
		Status        string
		FailingStreak int
		Log           []struct {
			ExitCode int
			Output   string
		}
	}
	assert.NilError(t, json.Unmarshal([]byte(inspect(t, d, "{{json .State.Health}}", name)), &h))
	assert.Assert(t, len(h.Log) > 0 && len(h.Log) <= 5, "log: %+v", h.Log)
	last := h.Log[len(h.Log)-1]
	assert.Check(t, is.Equal(last.ExitCode, 0))
	assert.Check(t, is.Equal(last.Output, "fine\n"))

	d.Cmd(t, "exec", name, "rm", "/tmp/ok").Assert(t, icmd.Success)
	waitInspect(t, name, "{{.State.Health.Status}}", "unhealthy", 20*time.Second)
	streak, err := strconv.Atoi(inspect(t, d, "{{.State.Health.FailingStreak}}", name))
	assert.NilError(t, err)
	assert.Check(t, streak >= 2)
}

// A HEALTHCHECK NONE-less container has no health state; a timeout counts
// as a failure with dockerd's message.
func TestHealthcheckTimeout(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "--health-cmd", "sleep 5", "--health-interval", "200ms",
		"--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "300").Assert(t, icmd.Success)
	waitInspect(t, name, "{{.State.Health.Status}}", "unhealthy", 20*time.Second)
	out := inspect(t, d, "{{(index .State.Health.Log 0).Output}}", name)
	assert.Check(t, is.Contains(out, "Health check exceeded timeout"))

	plain := uniqueName(t) + "-plain"
	removeContainers(t, d, plain)
	d.Cmd(t, "run", "-d", "--name", plain, "busybox", "sleep", "300").Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Health}}", plain), "<nil>"))
}

// Restart policies: on-failure:N stops after N restarts, always keeps
// restarting until docker stop, no never restarts.
func TestRestartPolicies(t *testing.T) {
	d := setup(t)
	fail := uniqueName(t) + "-fail"
	always := uniqueName(t) + "-always"
	removeContainers(t, d, fail, always)

	d.Cmd(t, "run", "-d", "--name", fail, "--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.2; exit 3").Assert(t, icmd.Success)
	waitInspect(t, fail, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "exited 2 3", 30*time.Second)
	assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", fail), "on-failure 2"))

	d.Cmd(t, "run", "-d", "--name", always, "--restart", "always", "busybox", "sh", "-c", "sleep 0.3").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		n, _ := strconv.Atoi(strings.TrimSpace(d.Run("inspect", "--format", "{{.RestartCount}}", always).Stdout()))
		if n < 2 {
			return poll.Continue("RestartCount %d", n)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	d.Cmd(t, "stop", "-t", "1", always).Assert(t, icmd.Success)
	count := inspect(t, d, "{{.RestartCount}}", always)
	time.Sleep(1500 * time.Millisecond)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.RestartCount}}", always), "exited "+count),
		"a stopped always container must stay stopped")

	res := d.Cmd(t, "run", "-d", "--restart", "sometimes", "busybox", "true")
	assert.Check(t, res.ExitCode != 0)
}

// pause/unpause freeze the container; update changes limits live.
func TestPauseUpdate(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done").Assert(t, icmd.Success)

	d.Cmd(t, "pause", name).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.Paused}}", name), "paused true"))
	assert.Check(t, is.Contains(d.Cmd(t, "ps", "--filter", "name="+name, "--format", "{{.Status}}").Stdout(), "(Paused)"))
	res := d.Cmd(t, "pause", name)
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "already paused"), res.Combined())
	res = d.Cmd(t, "exec", name, "true")
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "paused"), res.Combined())
	d.Cmd(t, "unpause", name).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", name), "running"))
	res = d.Cmd(t, "unpause", name)
	assert.Check(t, res.ExitCode != 0 && strings.Contains(res.Stderr(), "not paused"), res.Combined())

	// cgroup v1 wants the swap limit raised with the memory limit (dockerd
	// refuses otherwise).
	d.Cmd(t, "update", "--memory", "96m", "--memory-swap", "192m", "--pids-limit", "50", "--restart", "unless-stopped", name).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}", name),
		"100663296 50 unless-stopped"))
	limit := strings.TrimSpace(d.Cmd(t, "exec", name, "sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max").Stdout())
	assert.Check(t, is.Equal(limit, "100663296"))
}

// Restart policies apply again when the daemon comes back: an "always"
// container whose process died meanwhile is started again, a stopped
// "unless-stopped" one stays stopped, a stopped "always" one comes back.
func TestRestartPolicyDaemonRestart(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	d.Cmd(t, "run", "-d", "--name", "died", "--restart", "always", "busybox", "sleep", "300").Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "300").Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", "stopped-always", "--restart", "always", "busybox", "sleep", "300").Assert(t, icmd.Success)
	d.Cmd(t, "stop", "-t", "0", "unless").Assert(t, icmd.Success)
	d.Cmd(t, "stop", "-t", "0", "stopped-always").Assert(t, icmd.Success)
	pid, err := strconv.Atoi(inspectOn(t, d, "{{.State.Pid}}", "died"))
	assert.NilError(t, err)

	d.Stop(t)
	assert.NilError(t, syscall.Kill(pid, syscall.SIGKILL))
	d.Restart(t)

	poll.WaitOn(t, func(poll.LogT) poll.Result {
		got := strings.TrimSpace(d.Run("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "died").Stdout())
		if !strings.HasPrefix(got, "running ") || got == "running "+strconv.Itoa(pid) {
			return poll.Continue("died is %q", got)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	assert.Check(t, is.Equal(inspectOn(t, d, "{{.State.Status}}", "unless"), "exited"))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if got := strings.TrimSpace(d.Run("inspect", "--format", "{{.State.Status}}", "stopped-always").Stdout()); got != "running" {
			return poll.Continue("stopped-always is %q", got)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
}

func inspectOn(t *testing.T, d *daemon.Daemon, format, name string) string {
	t.Helper()
	res := d.Cmd(t, "inspect", "--format", format, name)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// docker start -a on an exited container attaches before it starts again
// and prints the new run's output and exit code.
func TestStartAttachExited(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	res := d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c", "echo run-$RANDOM-done; exit 5")
	assertExit(t, res, 5)
	res = icmd.RunCmd(d.Command("start", "-a", name), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 5)
	assert.Check(t, is.Contains(res.Stdout(), "-done"))
}
