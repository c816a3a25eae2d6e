package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// HEAD and GET /_ping: the headers every client negotiates with.
func TestPing(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)

	cases := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{name: "GET", method: http.MethodGet, path: "/_ping", body: "OK"},
		{name: "HEAD", method: http.MethodHead, path: "/_ping", body: ""},
		{name: "GET versioned", method: http.MethodGet, path: "/v1.24/_ping", body: "OK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, tc.path, nil)
			assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))
			assert.Check(t, is.Equal(string(r.body), tc.body))
			assert.Check(t, is.Equal(r.Header.Get("Api-Version"), maxVersion))
			assert.Check(t, is.Equal(r.Header.Get("Ostype"), "linux"))
			assert.Check(t, is.Equal(r.Header.Get("Docker-Experimental"), "false"))
			assert.Check(t, is.Equal(r.Header.Get("Cache-Control"), "no-cache, no-store, must-revalidate"))
			assert.Check(t, is.Equal(r.Header.Get("Pragma"), "no-cache"))
			if tc.method == http.MethodHead {
				assert.Check(t, is.Equal(r.Header.Get("Content-Length"), "0"))
			}
		})
	}

	t.Run("client", func(t *testing.T) {
		p, err := e.c.Ping(e.ctx, client.PingOptions{})
		assert.NilError(t, err)
		assert.Check(t, is.Equal(p.APIVersion, maxVersion))
		assert.Check(t, is.Equal(p.OSType, "linux"))
		assert.Check(t, !p.Experimental)
	})
}

// GET /version through the Go client and as raw JSON.
func TestVersion(t *testing.T) {
	e := setup(t)
	v, err := e.c.ServerVersion(e.ctx, client.ServerVersionOptions{})
	assert.NilError(t, err)
	assert.Check(t, v.Version != "", "Version is empty")
	assert.Check(t, is.Regexp(`^1\.\d+$`, v.APIVersion))
	assert.Check(t, is.Regexp(`^1\.\d+$`, v.MinAPIVersion))
	assert.Check(t, parseVersion(t, v.MinAPIVersion).less(parseVersion(t, v.APIVersion)))
	assert.Check(t, is.Equal(v.Os, "linux"))
	assert.Check(t, v.Arch != "", "Arch is empty")
	var engine bool
	for _, c := range v.Components {
		if c.Name == "Engine" {
			engine = true
			assert.Check(t, is.Equal(c.Version, v.Version))
		}
	}
	assert.Check(t, engine, "no Engine component in %+v", v.Components)

	r := e.do(t, http.MethodGet, "/version", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))
	assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
	var raw map[string]any
	assert.NilError(t, json.Unmarshal(r.body, &raw))
	for _, k := range []string{"Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "KernelVersion", "GoVersion", "GitCommit", "Components", "Platform"} {
		_, ok := raw[k]
		assert.Check(t, ok, "GET /version has no %q: %s", k, r.body)
	}
}

// GET /info: what clients check before anything else.
func TestInfo(t *testing.T) {
	e := setup(t)
	res, err := e.c.Info(e.ctx, client.InfoOptions{})
	assert.NilError(t, err)
	info := res.Info
	assert.Check(t, is.Equal(info.OSType, "linux"))
	assert.Check(t, is.Equal(string(info.Swarm.LocalNodeState), "inactive"))
	assert.Check(t, !info.Swarm.ControlAvailable)
	assert.Check(t, info.ServerVersion != "", "ServerVersion is empty")
	assert.Check(t, info.NCPU > 0)
	assert.Check(t, info.MemTotal > 0)
	assert.Check(t, is.Equal(info.IndexServerAddress, "https://index.docker.io/v1/"))
	assert.Check(t, info.Images >= 1, "busybox is loaded, Images=%d", info.Images)
}

// Every route answers with no version prefix and with any supported /vX.Y.
func TestVersionPrefixes(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)
	max := parseVersion(t, maxVersion)

	for _, prefix := range []string{"", "/v1.24", "/v1.40", "/v1.41", "/v1.44", "/v1.51", "/v" + maxVersion} {
		for _, route := range []string{"/_ping", "/version", "/info", "/containers/json", "/images/json"} {
			name := prefix + route
			if prefix == "" {
				name = "unversioned" + route
			}
			t.Run(name, func(t *testing.T) {
				if prefix != "" {
					// Versions above the server's maximum are refused (TestVersionTooNew).
					// dockerd 20.10 stops at 1.41; hyperbox claims 1.51, so /v1.44 and
					// /v1.51 (what testcontainers-java and CLI 28.3+ send) run there.
					if v := parseVersion(t, strings.TrimPrefix(prefix, "/v")); max.less(v) {
						t.Skipf("server maximum API version is %s", maxVersion)
					}
				}
				r := e.do(t, http.MethodGet, prefix+route, nil)
				assert.Check(t, is.Equal(r.StatusCode, http.StatusOK), "body: %s", r.body)
			})
		}
	}
}

// A version below the minimum is 400 "too old".
func TestVersionTooOld(t *testing.T) {
	e := setup(t)
	_, minVersion := e.apiVersions(t)
	min := parseVersion(t, minVersion)
	below := apiVersion{min.major, min.minor - 1}

	r := e.do(t, http.MethodGet, "/v"+below.String()+"/version", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
	want := "client version " + below.String() + " is too old. Minimum supported API version is " + minVersion
	// dockerd 20.10 writes this error as text/plain (http.Error in its version
	// middleware); current Docker writes the usual JSON {"message": ...}, which
	// is what hyperbox is held to.
	if daemon.IsOracle() && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		assert.Check(t, is.Contains(string(r.body), want))
	} else {
		assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
		assert.Check(t, is.Contains(r.message(t), want))
	}

	// /v1.12: too old wherever the minimum is above it (hyperbox: 1.24, current
	// Docker: 1.24 or 1.40); dockerd 20.10's minimum is 1.12 itself, so it serves it.
	r = e.do(t, http.MethodGet, "/v1.12/version", nil)
	if parseVersion(t, "1.12").less(min) {
		assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
		assert.Check(t, is.Contains(string(r.body), "client version 1.12 is too old"))
	} else {
		assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))
	}
}

// A version above the maximum is 400 "too new", naming the maximum.
func TestVersionTooNew(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)
	max := parseVersion(t, maxVersion)
	above := apiVersion{max.major, max.minor + 1}

	for _, v := range []string{above.String(), "9.99"} {
		t.Run(v, func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/v"+v+"/version", nil)
			assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
			assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
			assert.Check(t, is.Equal(r.message(t), "client version "+v+" is too new. Maximum supported API version is "+maxVersion))
		})
	}
}

// Unknown routes are 404 with a JSON body, so the CLI's inspect fall-through works.
func TestUnknownRoute(t *testing.T) {
	e := setup(t)
	for _, path := range []string{"/nosuchroute", "/v1.24/nosuchroute", "/containers/x/nosuchaction"} {
		t.Run(path, func(t *testing.T) {
			r := e.do(t, http.MethodGet, path, nil)
			assert.Check(t, is.Equal(r.StatusCode, http.StatusNotFound))
			// Exactly application/json: the Go client compares with ==.
			assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
			assert.Check(t, is.Equal(r.message(t), "page not found"))
		})
	}
}
