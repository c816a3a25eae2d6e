// Package system serves /_ping, /version, /info and /auth.
package system

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
)

// Backend is what the system routes need.
type Backend interface {
	EventsBackend
	DiskUsageBackend

	// SystemInfo returns /info. It does not block on containers.
	SystemInfo(ctx context.Context) (*system.Info, error)
	// SystemVersion returns /version.
	SystemVersion(ctx context.Context) system.VersionResponse
	// Auth checks credentials against a registry. Errors: Unauthorized.
	Auth(ctx context.Context, cfg *registry.AuthConfig) (registry.AuthResponse, error)
	// BuilderVersion is the builder _ping advertises: "2" when BuildKit
	// (/grpc, /session) is served, else "1" (the classic POST /build).
	BuilderVersion() string
}

type systemRouter struct{ b Backend }

// New returns the system router.
func New(b Backend) router.Router { return &systemRouter{b: b} }

func (s *systemRouter) Routes() []router.Route {
	rs := []router.Route{
		router.Get("/_ping", s.ping),
		router.Head("/_ping", s.ping),
		router.Get("/version", s.getVersion),
		router.Get("/info", s.getInfo),
		router.Post("/auth", s.postAuth),
	}
	rs = append(rs, s.eventsRoutes()...)
	return append(rs, s.diskUsageRoutes()...)
}

// ping answers with the headers clients negotiate from. The version
// middleware already set Api-Version and Ostype.
func (s *systemRouter) ping(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", "inactive")
	h.Set("Builder-Version", s.b.BuilderVersion())
	if r.Method == http.MethodHead {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *systemRouter) getVersion(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return httputil.WriteJSON(w, http.StatusOK, s.b.SystemVersion(ctx))
}

func (s *systemRouter) getInfo(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	info, err := s.b.SystemInfo(ctx)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, info)
}

func (s *systemRouter) postAuth(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var cfg registry.AuthConfig
	if err := httputil.ReadJSON(r, &cfg); err != nil {
		return err
	}
	resp, err := s.b.Auth(ctx, &cfg)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}
