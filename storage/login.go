package storage

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
)

// Login checks auth against the registry at serverAddress ("host[:port]",
// a URL, or Docker Hub's "https://index.docker.io/v1/") by answering the
// Basic or Bearer challenge of its /v2/ endpoint. It returns the identity
// (OAuth refresh) token the token server handed out, if any. A registry
// that asks for no authentication accepts any credentials, as with dockerd.
// Credentials are never logged.
//
// Errors: ErrUnauthenticated (credentials rejected), ErrInvalidArgument
// (bad address), ErrUnavailable (registry unreachable).
func (s *Store) Login(ctx context.Context, serverAddress string, auth Auth) (string, error) {
	host, err := registryHost(serverAddress)
	if err != nil {
		return "", err
	}
	var identityToken string
	onToken := docker.WithFetchRefreshToken(func(_ context.Context, token string, _ *http.Request) {
		identityToken = token
	})
	hosts, err := s.registryHosts(ctx, &auth, onToken)(host)
	if err != nil {
		return "", err
	}
	h := hosts[0]
	resp, err := authorizedGet(ctx, h, "/v2/")
	if err != nil {
		if cls := registryError(host, err); classified(cls) {
			return "", fmt.Errorf("login: %w", cls)
		}
		// Authorization failed before any request was answered.
		return "", fmt.Errorf("login to %s: %v: %w", host, err, errdefs.ErrUnauthenticated)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return identityToken, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", fmt.Errorf("login attempt to %s://%s/v2/ failed with status: %s: %w",
			resp.Request.URL.Scheme, h.Host, resp.Status, errdefs.ErrUnauthenticated)
	default:
		return "", fmt.Errorf("login to %s: unexpected status %s: %w", host, resp.Status, statusClassOr(resp.StatusCode, errdefs.ErrUnknown))
	}
}

// registryHost turns a login server address into the registry host name
// the resolver uses ("docker.io" for Docker Hub).
func registryHost(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "docker.io", nil
	}
	if !strings.Contains(a, "://") {
		a = "https://" + a
	}
	u, err := url.Parse(a)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("registry address %q: %w", addr, errdefs.ErrInvalidArgument)
	}
	switch h := strings.ToLower(u.Host); h {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io", nil
	default:
		return h, nil
	}
}

func statusClassOr(code int, def error) error {
	if c := statusClass(code); c != nil {
		return c
	}
	return def
}

// classified says whether err carries one of the error classes registry
// errors map to.
func classified(err error) bool {
	return errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err) ||
		errdefs.IsUnavailable(err) || errdefs.IsInvalidArgument(err) || errdefs.IsNotImplemented(err)
}
