package compose

import (
	"fmt"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// `compose restart web` stops and starts only web's container (same
// container, new start time), which serves again and is found by name.
func TestComposeRestart(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "webclient")
	p.ok(t, "up", "-d", "--wait")
	p.waitForLogs(t, "client", "client got: hello from web")

	web := p.containerIDs(t, "web")
	client := p.containerIDs(t, "client")
	assert.Assert(t, is.Len(web, 1))
	assert.Assert(t, is.Len(client, 1))
	webStarted := inspect(t, d, "{{.State.StartedAt}}", web[0])
	clientStarted := inspect(t, d, "{{.State.StartedAt}}", client[0])

	p.ok(t, "restart", "web")

	assert.Check(t, is.DeepEqual(p.containerIDs(t, "web"), web))
	assert.Check(t, inspect(t, d, "{{.State.StartedAt}}", web[0]) != webStarted, "web was not restarted")
	assert.Check(t, is.Equal(inspect(t, d, "{{.State.StartedAt}}", client[0]), clientStarted), "client was restarted too")
	assert.Check(t, is.DeepEqual(services(p.ps(t)), []string{"client running", "web running"}))
	logs := p.ok(t, "logs", "--no-color", "web").Stdout()
	assert.Check(t, is.Equal(strings.Count(logs, "web ready"), 2), logs)
	assert.Check(t, is.Contains(logs, "web got SIGTERM"))
	p.fetchInService(t, "client", "http://web/index.html", "hello from web")
}

// After a daemon restart the containers of a running project still serve
// their published port on the host and still find each other by name.
//
// It restarts the shared daemon instead of starting a second one: two
// dockerds with iptables on one host fight over the DOCKER chains (each
// flushes them when it starts).
func TestComposeDaemonRestart(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "full")
	p.ok(t, "up", "-d", "--wait")
	port := p.publishedPort(t, "web", "80")
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	assert.Check(t, is.Equal(httpGet(t, url), "hello from web"))
	p.fetchInService(t, "client", "http://web/index.html", "hello from web")

	d.Restart(t)

	assert.Check(t, is.DeepEqual(services(p.ps(t)), []string{"client running", "web running"}))
	assert.Check(t, is.Equal(p.publishedPort(t, "web", "80"), port))
	assert.Check(t, is.Equal(httpGet(t, url), "hello from web"))
	p.fetchInService(t, "client", "http://web/index.html", "hello from web")
}
