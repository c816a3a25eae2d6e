package compose

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// `down -v` leaves nothing of the project: no container, network or volume
// with its label, and on the host no interface, netns, mount (under the
// daemon's directory), listening port or firewall rule that was not there
// before `up` and names something of the project: a container ID or veth, a
// network ID or bridge, a published port, a volume (the host
// may be shared with other daemons changing their own rules meanwhile).
func TestComposeDownLeavesNothing(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "full")
	label := "label=com.docker.compose.project=" + p.name
	listed := func(what ...string) []string {
		res := d.Cmd(t, append(what, "-q", "--filter", label)...)
		assert.Assert(t, res.ExitCode == 0, res.String())
		return lines(res.Stdout())
	}
	before, err := daemon.SnapshotHost()
	assert.NilError(t, err)

	p.ok(t, "up", "-d", "--wait")
	assert.Check(t, is.Len(listed("ps", "-a"), 2))
	assert.Check(t, is.Len(listed("network", "ls"), 2))
	assert.Check(t, is.Len(listed("volume", "ls"), 1))
	httpGet(t, "http://127.0.0.1:"+strconv.Itoa(p.publishedPort(t, "web", "80"))+"/index.html")
	tokens := p.footprint()
	up, err := daemon.SnapshotHost()
	assert.NilError(t, err)
	added, _ := hostDiff(before, up, tokens, d.Root())
	t.Logf("what up added on the host:\n%s", strings.Join(added, "\n"))
	assert.Check(t, len(added) > 0, "up added nothing on the host that this test can see")

	p.ok(t, "down", "-v", "--remove-orphans")

	assert.Check(t, is.Len(listed("ps", "-a"), 0))
	assert.Check(t, is.Len(listed("network", "ls"), 0))
	assert.Check(t, is.Len(listed("volume", "ls"), 0))
	// Interfaces of removed network namespaces can take a moment to go.
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		after, err := daemon.SnapshotHost()
		if err != nil {
			return poll.Error(err)
		}
		if left, _ := hostDiff(before, after, tokens, d.Root()); len(left) > 0 {
			return poll.Continue("left on the host after down -v:\n%s", strings.Join(left, "\n"))
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(250*time.Millisecond))
}
