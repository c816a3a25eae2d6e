// Package api exercises the Engine API directly: the moby Go client for what
// clients do, raw HTTP over the unix socket for status codes, headers and
// stream framing.
//
// Like tests/e2e it runs against hyperboxd or, with
// HYPERBOX_TEST_TARGET=dockerd, against the real dockerd (the oracle).
package api

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/skip"
)

var shared *daemon.Daemon

func TestMain(m *testing.M) {
	os.Exit(daemon.Main(m, func(d *daemon.Daemon) error {
		shared = d
		return d.LoadBusybox("busybox:latest")
	}))
}

// env bundles what a test needs: the daemon, a Go client and a context.
type env struct {
	d   *daemon.Daemon
	c   *client.Client
	ctx context.Context
}

func setup(t *testing.T) env {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	shared.LogOnFailure(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return env{d: shared, c: shared.Client(t), ctx: ctx}
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueName derives a container name from the test name plus a random suffix.
func uniqueName(t *testing.T) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 40 {
		n = strings.Trim(n[len(n)-40:], "-")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return n + "-" + hex.EncodeToString(b)
}

// create creates a busybox container running cmd and force-removes it when the test ends.
func (e env) create(t *testing.T, cfg container.Config, hc *container.HostConfig) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.c.ContainerCreate(e.ctx, client.ContainerCreateOptions{
		Config:     &cfg,
		HostConfig: hc,
		Name:       uniqueName(t),
	})
	assert.NilError(t, err)
	t.Cleanup(func() {
		_, _ = e.c.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	return res.ID
}

func (e env) start(t *testing.T, id string) {
	t.Helper()
	_, err := e.c.ContainerStart(e.ctx, id, client.ContainerStartOptions{})
	assert.NilError(t, err)
}

func (e env) inspect(t *testing.T, id string) container.InspectResponse {
	t.Helper()
	res, err := e.c.ContainerInspect(e.ctx, id, client.ContainerInspectOptions{})
	assert.NilError(t, err)
	return res.Container
}

// response is a buffered HTTP response.
type response struct {
	*http.Response
	body []byte
}

// message returns the "message" of a JSON error body.
func (r response) message(t *testing.T) string {
	t.Helper()
	var m struct{ Message string }
	assert.NilError(t, json.Unmarshal(r.body, &m), "body %q", r.body)
	return m.Message
}

// do sends one request over the unix socket and reads the whole response.
func (e env) do(t *testing.T, method, path string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, method, "http://docker"+path, body)
	assert.NilError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := e.d.HTTPClient()
	hc.Timeout = time.Minute
	resp, err := hc.Do(req)
	assert.NilError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	t.Logf("%s %s -> %s %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	return response{Response: resp, body: b}
}

// rawConn is a hand-driven HTTP/1.1 connection to the daemon, for requests
// whose response headers and body must be observed separately (wait, attach).
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func (e env) dial(t *testing.T) *rawConn {
	t.Helper()
	c, err := e.d.Dial()
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes a request with no body and the given extra header lines.
func (c *rawConn) send(t *testing.T, method, path string, header ...string) *http.Request {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n", method, path)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(c, b.String())
	assert.NilError(t, err)
	req, err := http.NewRequest(method, "http://docker"+path, nil)
	assert.NilError(t, err)
	return req
}

// readHeaders reads the status line and headers, failing if they do not
// arrive within d.
func (c *rawConn) readHeaders(t *testing.T, req *http.Request, d time.Duration) *http.Response {
	t.Helper()
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(d)))
	resp, err := http.ReadResponse(c.br, req)
	assert.NilError(t, err, "response headers did not arrive within %s", d)
	assert.NilError(t, c.SetReadDeadline(time.Time{}))
	return resp
}

// apiVersions returns the server's ApiVersion and MinAPIVersion from GET /version.
func (e env) apiVersions(t *testing.T) (max, min string) {
	t.Helper()
	r := e.do(t, http.MethodGet, "/version", nil)
	assert.Equal(t, r.StatusCode, http.StatusOK)
	var v struct{ ApiVersion, MinAPIVersion string }
	assert.NilError(t, json.Unmarshal(r.body, &v))
	return v.ApiVersion, v.MinAPIVersion
}

// apiVersion is a parsed "1.41".
type apiVersion struct{ major, minor int }

func parseVersion(t *testing.T, s string) apiVersion {
	t.Helper()
	maj, min, ok := strings.Cut(s, ".")
	assert.Assert(t, ok, "version %q", s)
	a, err := strconv.Atoi(maj)
	assert.NilError(t, err)
	b, err := strconv.Atoi(min)
	assert.NilError(t, err)
	return apiVersion{a, b}
}

func (v apiVersion) less(o apiVersion) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

func (v apiVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }
