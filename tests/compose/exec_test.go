package compose

import (
	"slices"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// `compose exec` runs in the service's container with its own env and
// workdir options, keeps stdout and stderr apart and returns the command's
// exit code.
func TestComposeExec(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "webclient")
	p.ok(t, "up", "-d", "--wait")

	res := p.ok(t, "exec", "-T", "web", "cat", "/www/index.html")
	assert.Check(t, is.Equal(res.Stdout(), "hello from web\n"))

	res = p.compose(t, "exec", "-T", "web", "sh", "-c", "echo out; echo err >&2; exit 3")
	assert.Check(t, is.Equal(res.ExitCode, 3), res.String())
	assert.Check(t, is.Equal(res.Stdout(), "out\n"))
	assert.Check(t, is.Contains(res.Stderr(), "err\n"))

	res = p.ok(t, "exec", "-T", "-e", "GREETING=hi", "-w", "/www", "web", "sh", "-c", `echo "$GREETING $(pwd)"`)
	assert.Check(t, is.Equal(res.Stdout(), "hi /www\n"))

	res = p.compose(t, "exec", "-T", "web", "no-such-command")
	assert.Check(t, slices.Contains([]int{126, 127}, res.ExitCode), "want 126 or 127: %s", res.String())

	p.ok(t, "stop", "web")
	res = p.compose(t, "exec", "-T", "web", "true")
	assert.Check(t, res.ExitCode != 0, res.String())
	assert.Check(t, is.Contains(res.Stderr(), "is not running"))
}
