// Package server serves the Docker Engine HTTP API: listeners, the mux with
// every route registered with and without its /vX.Y prefix, and middleware.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/gorilla/mux"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/router"
)

// TLSConfig holds dockerd's TLS flags.
type TLSConfig struct {
	Verify bool
	CACert string
	Cert   string
	Key    string
}

// Config configures the API server.
type Config struct {
	Hosts    []string
	TLS      *TLSConfig
	Versions middleware.Versions
	// SocketGroup owns unix sockets when it exists (dockerd uses "docker").
	SocketGroup string
	// Activity, when set, is called as each request starts and ends.
	Activity func()
}

// Server is the API server.
type Server struct {
	cfg       Config
	handler   http.Handler
	mux       *mux.Router
	servers   []*http.Server
	listeners []net.Listener
}

// New builds the mux with the not-found handler; Register adds routes.
func New(cfg Config) *Server {
	m := mux.NewRouter()
	notFound := makeHTTPHandler(middleware.Version(cfg.Versions)(func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return fmt.Errorf("page not found: %w", errdefs.ErrNotFound)
	}))
	m.NotFoundHandler = notFound
	m.MethodNotAllowedHandler = notFound
	return &Server{cfg: cfg, handler: m, mux: m}
}

// Register adds the routers' routes, each with and without /vX.Y.
func (s *Server) Register(routers ...router.Router) {
	m := s.mux
	mws := []middleware.Middleware{middleware.Version(s.cfg.Versions), middleware.Recover, middleware.Log}
	for _, rt := range routers {
		for _, r := range rt.Routes() {
			h := r.Handler
			for i := len(mws) - 1; i >= 0; i-- {
				h = mws[i](h)
			}
			f := makeHTTPHandler(h)
			m.Path("/v{version:[0-9.]+}" + r.Path).Methods(r.Method).Handler(f)
			m.Path(r.Path).Methods(r.Method).Handler(f)
		}
	}
}

func makeHTTPHandler(h httputil.APIFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := mux.Vars(r)
		if vars == nil {
			vars = map[string]string{}
		}
		if err := h(r.Context(), w, r, vars); err != nil {
			httputil.WriteError(w, err)
		}
	})
}

// Handler exposes the mux (for tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens every configured address. A unix socket already answered by
// another daemon is an error; a stale socket file is replaced.
func (s *Server) Listen(ctx context.Context) error {
	for _, h := range s.cfg.Hosts {
		l, err := s.listen(ctx, h)
		if err != nil {
			s.closeListeners()
			return err
		}
		s.listeners = append(s.listeners, l)
	}
	return nil
}

func (s *Server) listen(ctx context.Context, host string) (net.Listener, error) {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		return nil, fmt.Errorf("invalid host %q: want unix:///path or tcp://addr:port", host)
	}
	switch proto {
	case "unix":
		return listenUnix(ctx, addr, s.cfg.SocketGroup)
	case "tcp":
		if s.cfg.TLS == nil {
			return nil, fmt.Errorf("refusing to listen on %s without TLS: pass --tlsverify --tlscacert --tlscert --tlskey", host)
		}
		tc, err := tlsConfig(s.cfg.TLS)
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, tc), nil
	}
	return nil, fmt.Errorf("invalid host %q: unsupported protocol %q", host, proto)
}

func listenUnix(ctx context.Context, path, group string) (net.Listener, error) {
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s is already in use by another daemon; stop it or choose another -H address", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		return nil, err
	}
	// Create the socket with no access for others, then open it to the group.
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, err
	}
	// Like dockerd: root and the socket group (when it exists) may connect.
	if gid := lookupGroup(group); gid >= 0 {
		_ = os.Chown(path, 0, gid)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	log.G(ctx).Infof("API listen on %s", path)
	return l, nil
}

func tlsConfig(t *TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CACert != "" {
		pem, err := os.ReadFile(t.CACert)
		if err != nil {
			return nil, fmt.Errorf("read CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no certificates found in --tlscacert")
		}
		tc.ClientCAs = pool
		if t.Verify {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// Serve serves on all listeners until ctx ends, then shuts down.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		h := s.handler
		if act := s.cfg.Activity; act != nil {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				act()
				defer act()
				s.handler.ServeHTTP(w, r)
			})
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second,
			BaseContext: func(net.Listener) context.Context { return ctx }}
		s.servers = append(s.servers, srv)
		go func(l net.Listener) {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(l)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		s.shutdown()
		return err
	}
	s.shutdown()
	return nil
}

func (s *Server) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	s.closeListeners()
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
}
