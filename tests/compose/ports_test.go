package compose

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// A fixed ("PORT:80") and a random ("80") published port are reported by
// `compose port` and `ps` and reach the services from the host.
func TestComposePublishedPorts(t *testing.T) {
	d := setup(t)
	fixed := freePort(t)
	p := newProject(t, d, "ports", "HBX_FIXED_PORT="+strconv.Itoa(fixed))

	p.ok(t, "up", "-d", "--wait")

	assert.Check(t, is.Equal(p.publishedPort(t, "fixed", "80"), fixed))
	random := p.publishedPort(t, "random", "80")
	assert.Check(t, random != fixed)

	published := map[string]int{}
	for _, e := range p.ps(t) {
		for _, pub := range e.Publishers {
			if pub.TargetPort == 80 && pub.PublishedPort != 0 {
				published[e.Service] = pub.PublishedPort
			}
		}
	}
	assert.Check(t, is.DeepEqual(published, map[string]int{"fixed": fixed, "random": random}))

	// Each page is the serving container's hostname.
	assert.Check(t, is.Equal(httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", fixed)), "fixed-web"))
	assert.Check(t, is.Equal(httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", random)), "random-web"))
}

// httpGet polls url from the host until it answers 200 and returns the
// trimmed body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	t.Logf("GET %s", url)
	hc := &http.Client{Timeout: 5 * time.Second}
	var body string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		resp, err := hc.Get(url)
		if err != nil {
			return poll.Continue("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return poll.Continue("GET %s: %s %v %q", url, resp.Status, err, b)
		}
		body = strings.TrimSpace(string(b))
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	return body
}
