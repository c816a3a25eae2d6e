package storage

import (
	"context"
	"fmt"
	"testing"

	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestRegistryHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, addr, want string
	}{
		{name: "empty is docker hub", addr: "", want: "docker.io"},
		{name: "index v1 url", addr: "https://index.docker.io/v1/", want: "docker.io"},
		{name: "host and port", addr: "localhost:5000", want: "localhost:5000"},
		{name: "url with path", addr: "http://Registry.Example.com:5000/v2/", want: "registry.example.com:5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := registryHost(tc.addr)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
}

func TestIsInsecure(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{InsecureRegistries: []string{"reg.example.com:5000", "10.1.0.0/16"}})
	tests := []struct {
		name string
		host string
		want bool
	}{
		{name: "localhost", host: "localhost:5000", want: true},
		{name: "loopback v4", host: "127.0.0.2:80", want: true},
		{name: "loopback v6", host: "[::1]:5000", want: true},
		{name: "listed host", host: "reg.example.com:5000", want: true},
		{name: "listed host other port", host: "reg.example.com:5001", want: false},
		{name: "in cidr", host: "10.1.2.3:5000", want: true},
		{name: "outside cidr", host: "10.2.2.3", want: false},
		{name: "docker hub", host: "docker.io", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.Equal(s.isInsecure(context.Background(), tc.host), tc.want))
		})
	}
}

func TestRegistryError(t *testing.T) {
	t.Parallel()
	status := func(code int, body string) error {
		return fmt.Errorf("wrapped: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: code, Status: fmt.Sprint(code), Body: []byte(body)})
	}
	tests := []struct {
		name  string
		err   error
		class func(error) bool
		msg   string
	}{
		{name: "401", err: status(401, ""), class: errdefs.IsUnauthorized},
		{name: "403", err: status(403, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`),
			class: errdefs.IsPermissionDenied, msg: "denied: requested access to the resource is denied"},
		{name: "404", err: status(404, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`),
			class: errdefs.IsNotFound, msg: "manifest unknown: manifest unknown"},
		{name: "429", err: status(429, ""), class: errdefs.IsUnavailable},
		{name: "502", err: status(502, ""), class: errdefs.IsUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := registryError("example.com/a:b", tc.err)
			assert.Check(t, tc.class(err), "%v", err)
			assert.Check(t, is.ErrorContains(err, tc.msg))
		})
	}
}

func TestLoadName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ann  map[string]string
		want string
	}{
		{name: "containerd name", ann: map[string]string{"io.containerd.image.name": "busybox"}, want: "docker.io/library/busybox:latest"},
		{name: "full ref name", ann: map[string]string{"org.opencontainers.image.ref.name": "example.com/a:v1"}, want: "example.com/a:v1"},
		{name: "short ref name with tag", ann: map[string]string{"org.opencontainers.image.ref.name": "alpine:3"}, want: "docker.io/library/alpine:3"},
		{name: "bare tag", ann: map[string]string{"org.opencontainers.image.ref.name": "latest"}, want: ""},
		{name: "none", ann: nil, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Check(t, is.Equal(loadName(tc.ann), tc.want))
		})
	}
}

func TestAuthRedacted(t *testing.T) {
	t.Parallel()
	a := Auth{Username: "u", Password: "hunter2", IdentityToken: "tok-secret", RegistryToken: "reg-secret"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprintf("%v", &a)} {
		for _, secret := range []string{"hunter2", "tok-secret", "reg-secret"} {
			assert.Check(t, !is.Contains(s, secret)().Success(), "%q leaks %q", s, secret)
		}
	}
}
