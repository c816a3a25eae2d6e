package compose

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// With `depends_on: condition: service_healthy`, compose starts the client
// only once web's healthcheck passes: the client's one fetch succeeds, ps
// shows web healthy, and the events put web's health_status before the
// client's start.
func TestComposeDependsOnHealthy(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "healthcheck")
	since := time.Now().Add(-time.Second)

	p.ok(t, "up", "-d")

	health := map[string]string{}
	for _, e := range p.ps(t) {
		health[e.Service] = e.State + "/" + e.Health
	}
	assert.Check(t, is.DeepEqual(health, map[string]string{"web": "running/healthy", "client": "running/"}))

	p.waitForLogs(t, "client", "client started")
	logs := p.ok(t, "logs", "--no-color", "client").Stdout()
	assert.Check(t, is.Contains(logs, "hello from healthy web"))
	assert.Check(t, !strings.Contains(logs, "web not ready"), "client was started before web was healthy:\n%s", logs)

	// The order in which the daemon saw it happen.
	res := d.Cmd(t, "events",
		"--since", strconv.FormatInt(since.Unix(), 10), "--until", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10),
		"--filter", "label=com.docker.compose.project="+p.name, "--filter", "type=container",
		"--format", `{{.Action}} {{index .Actor.Attributes "com.docker.compose.service"}}`)
	assert.Assert(t, res.ExitCode == 0, res.String())
	events := lines(res.Stdout())
	webStart := slices.Index(events, "start web")
	healthy := slices.Index(events, "health_status: healthy web")
	clientStart := slices.Index(events, "start client")
	assert.Check(t, webStart >= 0 && healthy > webStart && clientStart > healthy,
		"want start web < health_status: healthy web < start client; events:\n%s", strings.Join(events, "\n"))
}
