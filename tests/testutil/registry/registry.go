// Package registry runs an in-process OCI distribution registry for tests.
//
// The registry is go-containerregistry's in-memory implementation served over
// plain HTTP on 127.0.0.1. Daemons treat "localhost:PORT" (and 127.0.0.0/8) as
// insecure, so tests should refer to images as LocalhostHost()+"/repo:tag".
package registry

import (
	"crypto/subtle"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"gotest.tools/v3/assert"
)

// Realm is the realm announced in the Basic challenge of an authenticated registry.
const Realm = "hyperbox-test"

// Registry is a running in-process registry.
type Registry struct {
	srv  *http.Server
	addr *net.TCPAddr
	user string
	pass string
}

type config struct {
	user, pass string
	logger     *log.Logger
}

// Option configures Start.
type Option func(*config)

// WithBasicAuth makes every request, including GET /v2/, require HTTP Basic
// credentials user:pass. Requests without them get 401 with
// `WWW-Authenticate: Basic realm="hyperbox-test"`, which is the challenge
// `docker login` and the daemon's pull/push code answer with Basic auth.
func WithBasicAuth(user, pass string) Option {
	return func(c *config) {
		c.user = user
		c.pass = pass
	}
}

// WithLogger sends the registry's request log to l (default: discarded).
func WithLogger(l *log.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Start serves a fresh, empty registry on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	cfg := &config{logger: log.New(io.Discard, "", 0)}
	for _, o := range opts {
		o(cfg)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)

	r := &Registry{
		addr: ln.Addr().(*net.TCPAddr),
		user: cfg.user,
		pass: cfg.pass,
	}
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(cfg.logger))
	if cfg.user != "" {
		h = r.basicAuth(h)
	}
	r.srv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}

	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.logger.Printf("registry: serve: %v", err)
		}
	}()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

// Host returns "127.0.0.1:PORT".
func (r *Registry) Host() string {
	return r.addr.String()
}

// LocalhostHost returns "localhost:PORT", the form image references in tests
// should use: daemons treat localhost registries as plain-HTTP (insecure).
func (r *Registry) LocalhostHost() string {
	return net.JoinHostPort("localhost", strconv.Itoa(r.addr.Port))
}

// Port returns the TCP port the registry listens on.
func (r *Registry) Port() int {
	return r.addr.Port
}

func (r *Registry) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, pass, ok := req.BasicAuth()
		if !ok || !equal(user, r.user) || !equal(pass, r.pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
