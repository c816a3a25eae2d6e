package e2e

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// docker exec: output, exit codes, stdin, env/workdir/user, detached,
// privileged, and a missing binary (126 from the daemon, no HTTP error).
func TestExec(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "300").Assert(t, icmd.Success)

	res := d.Cmd(t, "exec", name, "echo", "hello")
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "hello\n"))

	assertExit(t, d.Cmd(t, "exec", name, "sh", "-c", "exit 5"), 5)

	res = d.Cmd(t, "exec", name, "sh", "-c", "echo out; echo err >&2")
	assert.Check(t, is.Equal(res.Stdout(), "out\n"))
	assert.Check(t, is.Equal(res.Stderr(), "err\n"))

	res = d.CmdWithStdin(t, strings.NewReader("line1\nline2\n"), "exec", "-i", name, "cat")
	assertExit(t, res, 0)
	assert.Check(t, is.Equal(res.Stdout(), "line1\nline2\n"))

	res = d.Cmd(t, "exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", name, "sh", "-c", `echo "$FOO $(pwd) $(id -u)"`)
	assert.Check(t, is.Equal(res.Stdout(), "bar /tmp 65534\n"))

	res = d.Cmd(t, "exec", name, "no-such-binary")
	assertExit(t, res, 126)
	assert.Check(t, is.Contains(res.Combined(), "no-such-binary"))

	// Detached: returns at once, the process runs in the container.
	d.Cmd(t, "exec", "-d", name, "sh", "-c", "sleep 0.3; echo done > /tmp/detached").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if d.Run("exec", name, "cat", "/tmp/detached").Stdout() == "done\n" {
			return poll.Success()
		}
		return poll.Continue("detached exec not done yet")
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(100*time.Millisecond))

	// --privileged gives the exec all the daemon's capabilities.
	plain := d.Cmd(t, "exec", name, "grep", "CapEff", "/proc/self/status").Stdout()
	priv := d.Cmd(t, "exec", "--privileged", name, "grep", "CapEff", "/proc/self/status").Stdout()
	assert.Check(t, plain != priv, "privileged exec has the same caps: %s", plain)

	// The container lists its running execs (finished ones drop out).
	d.Cmd(t, "exec", "-d", name, "sleep", "30").Assert(t, icmd.Success)
	var ids []string
	assert.NilError(t, json.Unmarshal([]byte(inspect(t, d, "{{json .ExecIDs}}", name)), &ids))
	assert.Check(t, is.Len(ids, 1), "ExecIDs: %v", ids)

	// Exec in a stopped container is refused.
	d.Cmd(t, "stop", "-t", "0", name).Assert(t, icmd.Success)
	res = d.Cmd(t, "exec", name, "true")
	assert.Check(t, res.ExitCode != 0)
	assert.Check(t, is.Contains(res.Stderr(), "is not running"))
}

// GET /exec/{id}/json after the stream ends carries the exit code.
func TestExecInspect(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "300").Assert(t, icmd.Success)
	c := d.Client(t)
	ctx := t.Context()
	created, err := c.ExecCreate(ctx, name, client.ExecCreateOptions{Cmd: []string{"sh", "-c", "echo x; exit 7"}, AttachStdout: true, AttachStderr: true})
	assert.NilError(t, err)
	att, err := c.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	assert.NilError(t, err)
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	assert.Check(t, is.Contains(string(out), "x\n"))
	ins, err := c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	assert.NilError(t, err)
	assert.Check(t, !ins.Running)
	assert.Check(t, is.Equal(ins.ExitCode, 7))
	assert.Check(t, is.Equal(ins.ContainerID, inspect(t, d, "{{.Id}}", name)))
}
