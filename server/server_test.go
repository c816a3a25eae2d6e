package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/server/middleware"
	systemroutes "github.com/hyperbox/hyperbox/server/routes/system"
)

type fakeSystem struct{}

func (fakeSystem) BuilderVersion() string { return "2" }

func (fakeSystem) SystemInfo(context.Context) (*system.Info, error) {
	return &system.Info{OSType: "linux"}, nil
}
func (fakeSystem) SystemVersion(context.Context) system.VersionResponse {
	return system.VersionResponse{APIVersion: "1.56", MinAPIVersion: "1.24"}
}
func (fakeSystem) Auth(context.Context, *registry.AuthConfig) (registry.AuthResponse, error) {
	return registry.AuthResponse{Status: "Login Succeeded"}, nil
}

func newTestServer() http.Handler {
	s := New(Config{Versions: middleware.Versions{Min: "1.24", Max: "1.56", ServerVersion: "28.5.2"}})
	s.Register(systemroutes.New(fakeSystem{}))
	return s.Handler()
}

func TestVersionPrefixes(t *testing.T) {
	t.Parallel()
	h := newTestServer()
	tests := []struct {
		name    string
		path    string
		code    int
		message string
	}{
		{name: "no prefix", path: "/version", code: 200},
		{name: "v1.24", path: "/v1.24/version", code: 200},
		{name: "v1.44", path: "/v1.44/version", code: 200},
		{name: "max", path: "/v1.56/version", code: 200},
		{name: "too old", path: "/v1.12/version", code: 400,
			message: "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
		{name: "too new", path: "/v9.99/version", code: 400,
			message: "client version 9.99 is too new. Maximum supported API version is 1.56"},
		{name: "unknown route", path: "/v1.44/nosuch", code: 404, message: "page not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			assert.Equal(t, rec.Code, tc.code)
			assert.Equal(t, rec.Header().Get("Api-Version"), "1.56")
			if tc.message != "" {
				var body struct{ Message string }
				assert.NilError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				assert.Equal(t, body.Message, tc.message)
				assert.Equal(t, rec.Header().Get("Content-Type"), "application/json")
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	h := newTestServer()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "/_ping", nil))
			assert.Equal(t, rec.Code, 200)
			hdr := rec.Header()
			assert.Equal(t, hdr.Get("Api-Version"), "1.56")
			assert.Equal(t, hdr.Get("Ostype"), "linux")
			assert.Equal(t, hdr.Get("Docker-Experimental"), "false")
			assert.Equal(t, hdr.Get("Cache-Control"), "no-cache, no-store, must-revalidate")
			assert.Equal(t, hdr.Get("Pragma"), "no-cache")
			if method == http.MethodGet {
				assert.Equal(t, rec.Body.String(), "OK")
			} else {
				assert.Equal(t, rec.Body.Len(), 0)
			}
		})
	}
}
