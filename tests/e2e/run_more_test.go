package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/skip"
)

// docker run --runtime: the runtime named runs the container and is
// recorded; an unknown one is refused.
func TestRunRuntime(t *testing.T) {
	d := setup(t)
	cases := []struct {
		runtime      string
		hyperboxOnly bool
	}{
		{runtime: "runc"},
		// dockerd knows only the runtimes in its configuration (runc by default).
		{runtime: "crun", hyperboxOnly: true},
	}
	for _, tc := range cases {
		t.Run(tc.runtime, func(t *testing.T) {
			skip.If(t, tc.hyperboxOnly && daemon.IsOracle(), "dockerd has no %s runtime configured", tc.runtime)
			name := uniqueName(t)
			removeContainers(t, d, name)
			res := d.Cmd(t, "run", "--name", name, "--runtime", tc.runtime, "busybox", "echo", "ran-with-"+tc.runtime)
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Equal(res.Stdout(), "ran-with-"+tc.runtime+"\n"))
			assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.Runtime}}", name), tc.runtime))
			res = d.Cmd(t, "info", "--format", "{{json .Runtimes}}")
			res.Assert(t, icmd.Success)
			assert.Check(t, is.Contains(res.Stdout(), `"`+tc.runtime+`":`))
		})
	}

	t.Run("unknown runtime", func(t *testing.T) {
		name := uniqueName(t)
		removeContainers(t, d, name)
		res := d.Cmd(t, "run", "--name", name, "--runtime", "nosuchruntime", "busybox", "true")
		assertExit(t, res, 125)
		assert.Check(t, is.Contains(res.Stderr(), "Unknown runtime specified nosuchruntime"))
	})
}

// docker run --init: PID 1 is the init (docker-init, i.e. tini), which runs
// the command as its child, passes its exit status on and forwards signals.
func TestRunInit(t *testing.T) {
	d := setup(t)

	t.Run("PID 1 is the init", func(t *testing.T) {
		res := d.Cmd(t, "run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline")
		res.Assert(t, icmd.Success)
		cmdline := strings.ReplaceAll(res.Stdout(), "\x00", " ")
		assert.Check(t, is.Regexp(`^\S*(docker-init|tini)\S* .*cat /proc/1/cmdline $`, cmdline))

		res = d.Cmd(t, "run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Regexp(`(?m)^\s*1\s+\S*(docker-init|tini)`, res.Stdout()))
		assert.Check(t, is.Regexp(`(?m)^\s*\d+\s+ps$`, res.Stdout()))
	})

	t.Run("without --init PID 1 is the command", func(t *testing.T) {
		res := d.Cmd(t, "run", "--rm", "busybox", "cat", "/proc/1/cmdline")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(res.Stdout(), "cat\x00/proc/1/cmdline\x00"))
	})

	t.Run("exit status passes through", func(t *testing.T) {
		name := uniqueName(t)
		removeContainers(t, d, name)
		res := d.Cmd(t, "run", "--name", name, "--init", "busybox", "sh", "-c", "echo out; exit 7")
		assertExit(t, res, 7)
		assert.Check(t, is.Equal(res.Stdout(), "out\n"))
		assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.Init}} {{.State.ExitCode}}", name), "true 7"))
		// Inspect shows the command, not the init wrapping it.
		assert.Check(t, is.Equal(inspect(t, d, "{{.Path}} {{json .Args}}", name), `sh ["-c","echo out; exit 7"]`))
	})

	t.Run("orphans are reaped", func(t *testing.T) {
		// The inner shell exits at once; its background sleep is re-parented
		// to PID 1, which must reap it when it ends.
		res := d.Cmd(t, "run", "--rm", "--init", "busybox", "sh", "-c",
			`sh -c "sleep 0.2 &"; sleep 1; ps -o stat,comm | grep -c '^Z' || true`)
		res.Assert(t, icmd.Success)
		assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), "0"), "zombies left: %s", res.Stdout())
	})

	t.Run("signals are forwarded", func(t *testing.T) {
		// sleep as PID 1 would ignore SIGTERM; under the init it dies of it.
		name := uniqueName(t)
		d.Cmd(t, "run", "-d", "--name", name, "--init", "busybox", "sleep", "300").Assert(t, icmd.Success)
		removeContainers(t, d, name)
		start := time.Now()
		d.Cmd(t, "stop", "-t", "10", name).Assert(t, icmd.Success)
		took := time.Since(start)
		assert.Check(t, took < 5*time.Second, "stop took %s: SIGTERM was not forwarded", took)
		assert.Check(t, is.Equal(inspect(t, d, "{{.State.ExitCode}}", name), "143"))
	})
}

// --stop-signal and --stop-timeout are what docker stop uses.
func TestRunStopSignalTimeout(t *testing.T) {
	d := setup(t)

	t.Run("stop-signal USR1", func(t *testing.T) {
		name := uniqueName(t)
		runDetached(t, d, name, `trap "echo got USR1; exit 0" USR1; echo ready; while :; do sleep 0.1; done`, "--stop-signal", "USR1")
		waitForLog(t, d, name, "ready")
		assert.Check(t, is.Equal(inspect(t, d, "{{.Config.StopSignal}}", name), "USR1"))
		start := time.Now()
		d.Cmd(t, "stop", name).Assert(t, icmd.Success)
		took := time.Since(start)
		assert.Check(t, took < 5*time.Second, "stop took %s: USR1 was not sent", took)
		assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "exited 0"))
		assert.Check(t, is.Contains(d.Cmd(t, "logs", name).Stdout(), "got USR1\n"))
	})

	t.Run("invalid stop-signal", func(t *testing.T) {
		name := uniqueName(t)
		removeContainers(t, d, name)
		res := d.Cmd(t, "run", "--name", name, "--stop-signal", "NOSUCHSIG", "busybox", "true")
		assertExit(t, res, 125)
		assert.Check(t, is.Contains(res.Stderr(), "Invalid signal: NOSUCHSIG"))
	})

	t.Run("stop-timeout 1", func(t *testing.T) {
		name := uniqueName(t)
		runDetached(t, d, name, stubborn, "--stop-timeout", "1")
		waitForLog(t, d, name, "ready")
		assert.Check(t, is.Equal(inspect(t, d, "{{.Config.StopTimeout}}", name), "1"))
		start := time.Now()
		d.Cmd(t, "stop", name).Assert(t, icmd.Success)
		took := time.Since(start)
		t.Logf("stop took %s", took)
		assert.Check(t, took >= 500*time.Millisecond, "stop took %s: killed before the timeout", took)
		assert.Check(t, took < 6*time.Second, "stop took %s: the default 10s timeout was used", took)
		assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "exited 137"))
		assert.Check(t, is.Contains(d.Cmd(t, "logs", name).Stdout(), "got TERM\n"))
	})
}

// docker rename: the container answers to the new name only, the old name
// is free again, and a name in use is refused.
func TestRename(t *testing.T) {
	d := setup(t)
	base := uniqueName(t)
	oldName, newName, other := base+"-old", base+"-new", base+"-other"
	removeContainers(t, d, oldName, newName, other)
	d.Cmd(t, "run", "-d", "--name", oldName, "busybox", "sleep", "300").Assert(t, icmd.Success)
	id := inspect(t, d, "{{.Id}}", oldName)

	d.Cmd(t, "rename", oldName, newName).Assert(t, icmd.Success)
	res := d.Cmd(t, "ps", "--no-trunc", "--filter", "name="+newName, "--format", "{{.ID}} {{.Names}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), id+" "+newName+"\n"))
	res = d.Cmd(t, "ps", "-a", "-q", "--filter", "name="+oldName)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""))
	assert.Check(t, is.Equal(inspect(t, d, "{{.Name}}", newName), "/"+newName))
	assertExit(t, d.Cmd(t, "inspect", "--type", "container", oldName), 1)

	// The old name can be used again; a name in use cannot be taken.
	d.Cmd(t, "create", "--name", oldName, "busybox", "true").Assert(t, icmd.Success)
	d.Cmd(t, "create", "--name", other, "busybox", "true").Assert(t, icmd.Success)
	res = d.Cmd(t, "rename", newName, other)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), `The container name "/`+other+`" is already in use`))
	assert.Check(t, is.Equal(inspect(t, d, "{{.Id}}", newName), id))

	res = d.Cmd(t, "rename", newName, newName)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "Renaming a container with the same name as its current name"))
	res = d.Cmd(t, "rename", newName, "bad name")
	assertExit(t, res, 1)
	// Docker checks the name while reserving it, with its leading slash.
	assert.Check(t, is.Contains(res.Stderr(), "Error response from daemon: Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))

	res = d.Cmd(t, "rename", "nosuch-"+base, base+"-x")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "No such container: nosuch-"+base))

	// The renamed container is still managed under its new name.
	d.Cmd(t, "logs", newName).Assert(t, icmd.Success)
	d.Cmd(t, "stop", "-t", "1", newName).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}}", newName), "exited"))
}

// docker run -t under a pseudo-terminal (script(1)): the container's stdout
// is a terminal, output gets CRLF line ends, the exit status passes through.
func TestRunTTY(t *testing.T) {
	d := setup(t)
	script, err := exec.LookPath("script")
	skip.If(t, err != nil, "script(1) from util-linux is not installed")
	name := uniqueName(t)
	removeContainers(t, d, name)
	cli := fmt.Sprintf("%s run --name %s -t busybox sh -c '[ -t 1 ] && echo stdout-is-a-tty; tty; echo tty-ok; exit 5'", daemon.CLIPath(), name)
	t.Logf("$ script -qec %q /dev/null", cli)
	res := icmd.RunCmd(icmd.Cmd{Command: []string{script, "-qec", cli, "/dev/null"}, Env: d.Env(), Timeout: time.Minute})
	assertExit(t, res, 5)
	// script's own terminal turns each \n of the container's \r\n into \r\n again.
	out := strings.ReplaceAll(res.Stdout(), "\r", "")
	assert.Check(t, is.Regexp(`^stdout-is-a-tty\n/dev/pts/\d+\ntty-ok\n$`, out), "output %q", res.Stdout())
	assert.Check(t, is.Equal(inspect(t, d, "{{.Config.Tty}} {{.State.ExitCode}}", name), "true 5"))
	// The log of a tty container is the raw terminal output: CRLF line ends.
	logs := d.Cmd(t, "logs", name)
	logs.Assert(t, icmd.Success)
	assert.Check(t, is.Regexp(`^stdout-is-a-tty\r\n/dev/pts/\d+\r\ntty-ok\r\n$`, logs.Stdout()))
}

// --pids-limit and --cpus: recorded in HostConfig and applied to the
// container's cgroup (v2, or v1 as on this CI host).
func TestRunPidsCPUs(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	res := d.Cmd(t, "run", "--name", name, "--pids-limit", "42", "--cpus", "0.5", "busybox", "sh", "-c",
		`if [ -f /sys/fs/cgroup/cpu.max ]; then cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max
		else cat /sys/fs/cgroup/pids/pids.max; echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"; fi`)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "42\n50000 100000\n"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.NanoCpus}}", name), "500000000"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.PidsLimit}}", name), "42"))
	assert.Check(t, is.Equal(inspect(t, d, "{{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}", name), "0 0"),
		"--cpus is kept as NanoCpus, not converted")

	t.Run("invalid", func(t *testing.T) {
		cases := []struct {
			name   string
			args   []string
			stderr string
		}{
			{name: "cpus and cpu-quota", args: []string{"--cpus", "0.5", "--cpu-quota", "50000"},
				stderr: "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
			{name: "more cpus than the host has", args: []string{"--cpus", "4096"},
				stderr: "Range of CPUs is from 0.01 to "},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				name := uniqueName(t)
				removeContainers(t, d, name)
				res := d.Cmd(t, append(append([]string{"run", "--name", name}, tc.args...), "busybox", "true")...)
				assertExit(t, res, 125)
				assert.Check(t, is.Contains(res.Stderr(), tc.stderr))
			})
		}
	})

	t.Run("pids limit enforced", func(t *testing.T) {
		res := d.Cmd(t, "run", "--rm", "--pids-limit", "4", "busybox", "sh", "-c",
			`for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; echo all-forked`)
		assert.Check(t, res.ExitCode != 0, res.String())
		assert.Check(t, is.Contains(res.Stderr(), "can't fork"))
		assert.Check(t, !strings.Contains(res.Stdout(), "all-forked"), res.Stdout())
	})
}

// --tmpfs mounts a writable tmpfs, even on a read-only root filesystem.
func TestRunTmpfs(t *testing.T) {
	d := setup(t)
	cases := []struct {
		name   string
		tmpfs  string
		mounts *regexp.Regexp // the /proc/mounts line
	}{
		{name: "defaults", tmpfs: "/scratch", mounts: regexp.MustCompile(`^tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime 0 0$`)},
		{name: "options", tmpfs: "/scratch:size=64k,mode=1777", mounts: regexp.MustCompile(`^tmpfs /scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=64k 0 0$`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := d.Cmd(t, "run", "--rm", "--read-only", "--tmpfs", tc.tmpfs, "busybox", "sh", "-c",
				`echo data > /scratch/f && cat /scratch/f && stat -c %a /scratch && grep " /scratch " /proc/mounts && touch /not-scratch`)
			assertExit(t, res, 1)
			out := lines(res.Stdout())
			assert.Assert(t, is.Len(out, 3), res.Stdout())
			assert.Check(t, is.Equal(out[0], "data"))
			assert.Check(t, is.Equal(out[1], "1777"))
			assert.Check(t, is.Regexp(tc.mounts, out[2]))
			assert.Check(t, is.Contains(res.Stderr(), "Read-only file system"))
		})
	}
}

// -e and --env-file together: comments and blank lines are skipped, values
// keep their spaces, and -e wins over the file.
func TestRunEnvFile(t *testing.T) {
	d := setup(t)
	envFile := filepath.Join(t.TempDir(), "env")
	assert.NilError(t, os.WriteFile(envFile, []byte("# a comment\nB=2\n\nC=three words\nA=from-file\n"), 0o644))
	res := d.Cmd(t, "run", "--rm", "--env-file", envFile, "-e", "A=1", "busybox", "sh", "-c", `echo "$A|$B|$C"`)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "1|2|three words\n"))
}

// --log-opt max-size=1k --log-opt max-file=2: the json-file log rotates,
// docker logs returns only the newest lines, and the files stay bounded.
func TestRunLogRotation(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	const n = 300
	d.Cmd(t, "run", "-d", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
		fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line-$i-padding-padding"; i=$((i+1)); done`, n)).Assert(t, icmd.Success)
	res := icmd.RunCmd(d.Command("wait", name), icmd.WithTimeout(30*time.Second))
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "0\n"))
	assert.Check(t, is.Equal(inspect(t, d, "{{json .HostConfig.LogConfig}}", name),
		`{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}`))

	last := fmt.Sprintf("line-%d-padding-padding", n-1)
	waitForLog(t, d, name, last)
	res = d.Cmd(t, "logs", name)
	res.Assert(t, icmd.Success)
	got := lines(res.Stdout())
	assert.Assert(t, len(got) > 0)
	assert.Check(t, len(got) < 40, "%d lines survived a 2 x 1k log", len(got))
	assert.Check(t, is.Equal(got[len(got)-1], last))
	// What remains is the tail, in order, without gaps.
	first := lineNumber(t, got[0])
	for i, l := range got {
		assert.Check(t, is.Equal(l, fmt.Sprintf("line-%d-padding-padding", first+i)))
	}

	t.Run("unknown log-opt", func(t *testing.T) {
		name := uniqueName(t)
		removeContainers(t, d, name)
		res := d.Cmd(t, "run", "--name", name, "--log-opt", "no-such-opt=1", "busybox", "true")
		assertExit(t, res, 125)
		assert.Check(t, is.Contains(res.Stderr(), "unknown log opt 'no-such-opt' for json-file log driver"))
	})

	logPath := inspect(t, d, "{{.LogPath}}", name)
	assert.Assert(t, logPath != "", "no LogPath")
	files, err := filepath.Glob(logPath + "*")
	assert.NilError(t, err)
	assert.Check(t, len(files) >= 1 && len(files) <= 2, "log files: %v", files)
	for _, f := range files {
		fi, err := os.Stat(f)
		assert.NilError(t, err)
		// json-file rotates once a write has taken the file to max-size, so
		// a file may pass it by one entry (dockerd 20.10: 1044 bytes here).
		const entry = 128 // one JSON line of this output, with room to spare
		assert.Check(t, fi.Size() <= 1024+entry, "%s is %d bytes", f, fi.Size())
		t.Logf("%s: %d bytes", filepath.Base(f), fi.Size())
	}
	t.Logf("docker logs kept %d lines, from line %d", len(got), first)
}

func lineNumber(t *testing.T, line string) int {
	t.Helper()
	f := strings.Split(line, "-")
	assert.Assert(t, len(f) > 2, "unexpected log line %q", line)
	n, err := strconv.Atoi(f[1])
	assert.NilError(t, err, "log line %q", line)
	return n
}
