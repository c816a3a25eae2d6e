package e2e

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// A command that does not exist is the user's mistake: docker run exits
// 127 with the runtime's message, and --rm still removes the container.
func TestRunMissingExecutable(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	res := d.Cmd(t, "run", "--rm", "--name", name, "busybox", "no-such-command")
	assertExit(t, res, 127)
	assert.Check(t, strings.Contains(res.Stderr(), "no-such-command") && strings.Contains(res.Stderr(), "not found"),
		"stderr: %s", res.Stderr())
	ps := d.Cmd(t, "ps", "-a", "-q", "--filter", "name="+name)
	assert.Check(t, is.Equal(ps.Stdout(), ""))

	// Without --rm the container stays, created, with exit code 127.
	res = d.Cmd(t, "run", "--name", name, "busybox", "no-such-command")
	assertExit(t, res, 127)
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.Status}} {{.State.ExitCode}}", name), "created 127"))
	d.Cmd(t, "rm", name)
}
