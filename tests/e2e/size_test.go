package e2e

import (
	"strconv"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// docker ps -s and docker inspect -s report the writable layer's size.
func TestContainerSize(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c", "dd if=/dev/zero of=/blob bs=1024 count=300 2>/dev/null").Assert(t, icmd.Success)
	defer d.Cmd(t, "rm", "-f", name)
	ires := d.Cmd(t, "inspect", "-s", "--format", "{{.SizeRw}} {{.SizeRootFs}}", name)
	ires.Assert(t, icmd.Success)
	out := strings.TrimSpace(ires.Stdout())
	f := strings.Fields(out)
	assert.Assert(t, is.Len(f, 2), out)
	rw, err := strconv.ParseInt(f[0], 10, 64)
	assert.NilError(t, err)
	root, err := strconv.ParseInt(f[1], 10, 64)
	assert.NilError(t, err)
	assert.Check(t, rw >= 300*1024, "SizeRw %d", rw)
	assert.Check(t, root > rw, "SizeRootFs %d <= SizeRw %d", root, rw)
	res := d.Cmd(t, "ps", "-a", "-s", "--filter", "name="+name, "--format", "{{.Size}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "(virtual "))
}
