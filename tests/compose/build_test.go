package compose

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestComposeBuild: `docker compose build` builds through buildx (bake,
// BuildKit's /grpc and /session) with build args and a target, the images
// land in the daemon's store under compose's names, and `up` runs them.
func TestComposeBuild(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "build")
	t.Cleanup(func() { d.Run("rmi", "-f", p.name+"-app", p.name+"-tool") })
	res := p.ok(t, "build")
	assert.Check(t, is.Contains(res.Combined(), "RUN echo"))

	img := d.Cmd(t, "image", "inspect", "--format", "{{.Id}}", p.name+"-app")
	assert.Check(t, is.Equal(img.ExitCode, 0), img.String())
	p.ok(t, "up", "-d")
	p.waitForLogs(t, "app", "built-by-compose")
	res = p.ok(t, "run", "--rm", "tool")
	assert.Check(t, is.Equal(strings.TrimSpace(res.Stdout()), "tool-stage"))
}
