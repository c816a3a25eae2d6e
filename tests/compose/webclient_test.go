package compose

import (
	"regexp"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// A client service reaches a web service by its service name on the
// project's default network; `up --wait`, `logs` and `ps` show both.
func TestComposeServiceDiscovery(t *testing.T) {
	d := setup(t)
	p := newProject(t, d, "webclient")

	p.ok(t, "up", "-d", "--wait")

	p.waitForLogs(t, "client", "client got: hello from web")
	logs := p.ok(t, "logs", "--no-color").Stdout()
	assert.Check(t, regexp.MustCompile(`(?m)^web-1\s+\| web ready$`).MatchString(logs), "logs:\n%s", logs)
	assert.Check(t, regexp.MustCompile(`(?m)^client-1\s+\| client got: hello from web$`).MatchString(logs), "logs:\n%s", logs)

	assert.Check(t, is.DeepEqual(services(p.ps(t)), []string{"client running", "web running"}))
	table := p.ok(t, "ps").Stdout()
	assert.Check(t, is.Contains(table, p.name+"-web-1"))
	assert.Check(t, is.Contains(table, p.name+"-client-1"))

	// Both containers are on the project network compose created, under
	// their service names.
	network := p.name + "_default"
	assert.Check(t, is.Equal(inspect(t, d, `{{index .Labels "com.docker.compose.project"}}`, network), p.name))
	for _, svc := range []string{"web", "client"} {
		ids := p.containerIDs(t, svc)
		assert.Assert(t, is.Len(ids, 1), "service %s", svc)
		aliases := inspect(t, d, `{{json (index .NetworkSettings.Networks "`+network+`").Aliases}}`, ids[0])
		assert.Check(t, strings.Contains(aliases, `"`+svc+`"`), "aliases of %s on %s: %s", svc, network, aliases)
	}
}
