package compose

import (
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
)

// The docker CLI finds the compose plugin in the daemon's DOCKER_CONFIG.
func TestComposeVersion(t *testing.T) {
	d := setup(t)
	res := d.Cmd(t, "compose", "version", "--short")
	res.Assert(t, icmd.Success)
	assert.Check(t, strings.HasPrefix(res.Stdout(), "2."), res.String())
}
