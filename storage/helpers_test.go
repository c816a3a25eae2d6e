package storage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/storage"
)

// testRegistry is an in-process registry on 127.0.0.1 (plain HTTP).
type testRegistry struct {
	host string
	// auth is what pushes from the test use.
	auth authn.Authenticator
}

type registryOpt func(http.Handler, *testRegistry) http.Handler

// withBasicAuth makes the registry demand user:pass with a Basic challenge.
func withBasicAuth(user, pass string) registryOpt {
	return func(next http.Handler, r *testRegistry) http.Handler {
		r.auth = &authn.Basic{Username: user, Password: pass}
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if u, p, ok := req.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, req)
		})
	}
}

// withTokenAuth makes the registry demand a bearer token from its own token
// server (/token): GET with Basic user:pass, or an OAuth POST with a
// password or the refresh token "refresh-"+user.
func withTokenAuth(user, pass string) registryOpt {
	const token = "good-token"
	return func(next http.Handler, r *testRegistry) http.Handler {
		r.auth = &authn.Bearer{Token: token}
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/token" {
				serveToken(w, req, user, pass, token)
				return
			}
			if req.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, req.Host))
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, req)
		})
	}
}

func serveToken(w http.ResponseWriter, req *http.Request, user, pass, token string) {
	var resp map[string]string
	if req.Method == http.MethodPost {
		_ = req.ParseForm()
		switch {
		case req.Form.Get("grant_type") == "password" && req.Form.Get("username") == user && req.Form.Get("password") == pass:
			resp = map[string]string{"access_token": token, "refresh_token": "refresh-" + user}
		case req.Form.Get("grant_type") == "refresh_token" && req.Form.Get("refresh_token") == "refresh-"+user:
			resp = map[string]string{"access_token": token}
		}
	} else if u, p, ok := req.BasicAuth(); ok && u == user && p == pass {
		resp = map[string]string{"token": token}
	}
	if resp == nil {
		unauthorized(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
}

func startRegistry(t *testing.T, opts ...registryOpt) *testRegistry {
	t.Helper()
	r := &testRegistry{auth: authn.Anonymous}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	for _, o := range opts {
		h = o(h, r)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// ref returns "<host>/<repo>" + suffix.
func (r *testRegistry) ref(repoAndTag string) string { return r.host + "/" + repoAndTag }

// push uploads img as ref.
func (r *testRegistry) push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	n, err := name.ParseReference(ref)
	assert.NilError(t, err)
	assert.NilError(t, remote.Write(n, img, remote.WithAuth(r.auth)))
}

// pushIndex uploads an index as ref.
func (r *testRegistry) pushIndex(t *testing.T, ref string, idx v1.ImageIndex) {
	t.Helper()
	n, err := name.ParseReference(ref)
	assert.NilError(t, err)
	assert.NilError(t, remote.WriteIndex(n, idx, remote.WithAuth(r.auth)))
}

// randomImage is an image of n random layers for arch ("" = host) with
// Docker's extended config fields set.
func randomImage(t *testing.T, layers int64, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(2048, layers)
	assert.NilError(t, err)
	cf, err := img.ConfigFile()
	assert.NilError(t, err)
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	if arch == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "true"}}
	cf.Config.Shell = []string{"/bin/bash", "-c"}
	cf.Config.OnBuild = []string{"RUN true"}
	img, err = mutate.ConfigFile(img, cf)
	assert.NilError(t, err)
	return img
}

func imageID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	assert.NilError(t, err)
	return h.String()
}

func imageDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.Digest()
	assert.NilError(t, err)
	return h.String()
}

// recorder collects progress events.
type recorder struct {
	mu     sync.Mutex
	events []storage.Progress
}

func (r *recorder) fn(p storage.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, p)
}

// byLayer returns the actions per layer ID, repeated Downloading and
// Uploading collapsed into one.
func (r *recorder) byLayer() map[string][]storage.ProgressAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]storage.ProgressAction{}
	for _, e := range r.events {
		if e.ID == "" {
			continue
		}
		a := out[e.ID]
		if n := len(a); n > 0 && a[n-1] == e.Action &&
			(e.Action == storage.ProgressLayerDownloading || e.Action == storage.ProgressLayerUploading) {
			continue
		}
		out[e.ID] = append(a, e.Action)
	}
	return out
}

// layerIDs are the short IDs of img's compressed layers.
func layerIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	ls, err := img.Layers()
	assert.NilError(t, err)
	var ids []string
	for _, l := range ls {
		d, err := l.Digest()
		assert.NilError(t, err)
		ids = append(ids, d.Hex[:12])
	}
	return ids
}

func mustDigest(t *testing.T, s string) digest.Digest {
	t.Helper()
	d, err := digest.Parse(s)
	assert.NilError(t, err)
	return d
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
