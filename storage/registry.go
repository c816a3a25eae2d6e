package storage

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
)

// dockerHubHost is where docker.io's registry API lives.
const dockerHubHost = "registry-1.docker.io"

var (
	transportsOnce    sync.Once
	secureTransport   *http.Transport
	insecureTransport *http.Transport
)

// transport returns a process-wide transport, so that connections are
// pooled across pulls; insecure ones skip certificate verification.
func transport(insecure bool) *http.Transport {
	transportsOnce.Do(func() {
		secureTransport = docker.DefaultHTTPTransport(&tls.Config{})
		insecureTransport = docker.DefaultHTTPTransport(&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // insecure registries are opted into
	})
	if insecure {
		return insecureTransport
	}
	return secureTransport
}

// resolver returns a containerd resolver that authenticates with auth.
func (s *Store) resolver(ctx context.Context, auth *Auth, opts ...docker.AuthorizerOpt) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{
		Hosts:   s.registryHosts(ctx, auth, opts...),
		Tracker: docker.NewInMemoryTracker(),
	})
}

// registryHosts configures how a registry host is reached: docker.io is
// registry-1.docker.io; insecure registries (and every loopback one) try
// HTTPS without verification first and fall back to plain HTTP, like dockerd.
func (s *Store) registryHosts(ctx context.Context, auth *Auth, opts ...docker.AuthorizerOpt) docker.RegistryHosts {
	return func(host string) ([]docker.RegistryHost, error) {
		h := docker.RegistryHost{
			Host:   host,
			Scheme: "https",
			Path:   "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve |
				docker.HostCapabilityPush | docker.HostCapabilityReferrers,
		}
		if host == "docker.io" {
			h.Host = dockerHubHost
		}
		insecure := s.isInsecure(ctx, host)
		var rt http.RoundTripper = transport(insecure)
		if insecure {
			rt = docker.NewHTTPFallback(rt)
		}
		h.Client = &http.Client{Transport: rt}
		h.Authorizer = newAuthorizer(h.Client, auth, opts...)
		return []docker.RegistryHost{h}, nil
	}
}

// isInsecure says whether host (host[:port]) may be used without verified
// TLS: loopback, an InsecureRegistries entry, or an address in one of its
// CIDRs (host names are looked up, as dockerd does).
func (s *Store) isInsecure(ctx context.Context, host string) bool {
	host = strings.ToLower(host)
	if docker.IsLocalhost(host) {
		return true
	}
	for _, h := range s.insecureHosts {
		if h == host {
			return true
		}
	}
	if len(s.insecureNets) == 0 {
		return false
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	var ips []net.IP
	if ip := net.ParseIP(name); ip != nil {
		ips = []net.IP{ip}
	} else if addrs, err := net.DefaultResolver.LookupIPAddr(ctx, name); err == nil {
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		for _, n := range s.insecureNets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// newAuthorizer answers registry challenges with auth: a registry token is
// sent as is; an identity token is an OAuth refresh token; otherwise the
// username and password serve Basic and Bearer (token server) challenges.
func newAuthorizer(client *http.Client, auth *Auth, opts ...docker.AuthorizerOpt) docker.Authorizer {
	if auth != nil && auth.RegistryToken != "" {
		return registryToken(auth.RegistryToken)
	}
	all := []docker.AuthorizerOpt{docker.WithAuthClient(client)}
	if auth != nil && (auth.Username != "" || auth.Password != "" || auth.IdentityToken != "") {
		user, secret := auth.Username, auth.Password
		if auth.IdentityToken != "" {
			user, secret = "", auth.IdentityToken
		}
		all = append(all, docker.WithAuthCreds(func(string) (string, string, error) { return user, secret, nil }))
	}
	return docker.NewDockerAuthorizer(append(all, opts...)...)
}

// registryToken is a bearer token the client obtained itself
// (X-Registry-Auth "registrytoken").
type registryToken string

func (t registryToken) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

func (t registryToken) AddResponses(context.Context, []*http.Response) error {
	return errdefs.ErrNotImplemented
}

// authorizedGet GETs path on host, answering one authentication challenge.
// The caller closes the response body.
func authorizedGet(ctx context.Context, h docker.RegistryHost, path string) (*http.Response, error) {
	url := h.Scheme + "://" + h.Host + path
	do := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if err := h.Authorizer.Authorize(ctx, req); err != nil {
			return nil, err
		}
		return h.Client.Do(req)
	}
	resp, err := do()
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if err := h.Authorizer.AddResponses(ctx, []*http.Response{resp}); err != nil {
		// No usable challenge or no credentials: the 401 is the answer.
		return resp, nil
	}
	resp.Body.Close()
	return do()
}
