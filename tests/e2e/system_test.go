package e2e

import (
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker version: the CLI negotiates with the daemon and prints its Server
// section from GET /version.
func TestVersion(t *testing.T) {
	d := setup(t)

	res := d.Cmd(t, "version")
	res.Assert(t, icmd.Success)
	out := res.Stdout()
	assert.Check(t, is.Contains(out, "Client:"))
	assert.Check(t, is.Contains(out, "Server:"))
	// The Engine component is what the CLI prints as "Engine:".
	assert.Check(t, is.Contains(out, "Engine:"))

	res = d.Cmd(t, "version", "--format", "{{.Server.Version}}|{{.Server.APIVersion}}|{{.Server.MinAPIVersion}}|{{.Server.Os}}|{{.Server.Arch}}")
	res.Assert(t, icmd.Success)
	f := strings.Split(strings.TrimSpace(res.Stdout()), "|")
	assert.Assert(t, is.Len(f, 5), res.Stdout())
	assert.Check(t, f[0] != "", "server version is empty")
	assert.Check(t, is.Regexp(`^1\.\d+$`, f[1]))
	assert.Check(t, is.Regexp(`^1\.\d+$`, f[2]))
	assert.Check(t, is.Equal(f[3], "linux"))
	assert.Check(t, f[4] != "", "server arch is empty")
}

// docker info: OSType linux, swarm inactive, and the human output.
func TestInfo(t *testing.T) {
	d := setup(t)

	res := d.Cmd(t, "info", "--format", "{{.OSType}}|{{.Swarm.LocalNodeState}}|{{.ServerVersion}}|{{.Driver}}|{{.IndexServerAddress}}")
	res.Assert(t, icmd.Success)
	f := strings.Split(strings.TrimSpace(res.Stdout()), "|")
	assert.Assert(t, is.Len(f, 5), res.Stdout())
	assert.Check(t, is.Equal(f[0], "linux"))
	assert.Check(t, is.Equal(f[1], "inactive"))
	assert.Check(t, f[2] != "", "ServerVersion is empty")
	assert.Check(t, f[3] != "", "Driver is empty")
	assert.Check(t, is.Equal(f[4], "https://index.docker.io/v1/"))

	res = d.Cmd(t, "info")
	res.Assert(t, icmd.Success)
	for _, want := range []string{"Server:", "Server Version:", "Storage Driver:", "Swarm: inactive", "Operating System:"} {
		assert.Check(t, is.Contains(res.Stdout(), want))
	}
	assert.Check(t, is.Regexp(regexp.MustCompile(`(?m)^ Containers: \d+$`), res.Stdout()))
}
