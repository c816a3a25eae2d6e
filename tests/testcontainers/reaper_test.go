package testcontainers

import (
	"os/exec"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// TestReaperRemovesContainers proves the reaper flow end to end: a second
// test process (a separate testcontainers-go session, so its own reaper
// container) creates a network and two containers and exits without
// removing them; once its connection to the reaper is gone and the
// reconnection timeout (3 s here) has passed, the reaper removes the
// containers and the network, then exits and is auto-removed. The reaper is
// a genuine Ryuk when bin/ryuk or $HYPERBOX_TEST_RYUK is given, else ./reaper.
func TestReaperRemovesContainers(t *testing.T) {
	d := setup(t)
	t.Logf("reaper: %s", reaperBinary)
	mark := uniqueMark(t)
	args := childArgs(t)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = childEnvironment(t, mark,
		"DOCKER_HOST="+d.Host(),
		"TESTCONTAINERS_RYUK_RECONNECTION_TIMEOUT=3s",
		"TESTCONTAINERS_RYUK_CONNECTION_TIMEOUT=30s",
		"TESTCONTAINERS_RYUK_VERBOSE=true")
	s := runChild(t, cmd)
	assert.Equal(t, s.host, d.Host())
	// Nobody but the reaper removes these: the child left them running.
	assertCreatedHere(t, d, s, mark)
	waitReaped(t, d, s, 60*time.Second)
}
