package compat

import (
	"testing"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/storage"
)

func testImage() *storage.Image {
	return &storage.Image{Config: dockerspec.DockerOCIImage{Config: dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{
		Env:        []string{"PATH=/bin", "A=image"},
		Entrypoint: []string{"/entry"},
		Cmd:        []string{"serve"},
		WorkingDir: "/srv",
		User:       "nobody",
		Labels:     map[string]string{"from": "image", "both": "image"},
		StopSignal: "SIGQUIT",
	}}}}
}

func TestMergeImageConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      container.Config
		wantArgs []string
		wantEnv  []string
		wantUser string
	}{
		{name: "image defaults", req: container.Config{},
			wantArgs: []string{"/entry", "serve"}, wantEnv: []string{"PATH=/bin", "A=image"}, wantUser: "nobody"},
		{name: "cmd override keeps entrypoint", req: container.Config{Cmd: []string{"x"}},
			wantArgs: []string{"/entry", "x"}, wantEnv: []string{"PATH=/bin", "A=image"}, wantUser: "nobody"},
		{name: "entrypoint override drops image cmd", req: container.Config{Entrypoint: []string{"sh"}},
			wantArgs: []string{"sh"}, wantEnv: []string{"PATH=/bin", "A=image"}, wantUser: "nobody"},
		{name: "env merged by key", req: container.Config{Env: []string{"A=req", "B=1"}, User: "root"},
			wantArgs: []string{"/entry", "serve"}, wantEnv: []string{"PATH=/bin", "A=req", "B=1"}, wantUser: "root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mergeImageConfig(&tc.req, testImage())
			spec, err := engineSpec("n", m, &container.HostConfig{}, "sha256:x")
			assert.NilError(t, err)
			assert.DeepEqual(t, spec.Args, tc.wantArgs)
			assert.DeepEqual(t, spec.Env, tc.wantEnv)
			assert.Equal(t, spec.User, tc.wantUser)
			assert.Equal(t, spec.WorkingDir, "/srv")
			assert.Equal(t, spec.StopSignal, "SIGQUIT")
		})
	}
}

func TestMergeLabelsAndPath(t *testing.T) {
	t.Parallel()
	m := mergeImageConfig(&container.Config{Labels: map[string]string{"both": "req"}}, testImage())
	assert.DeepEqual(t, m.Labels, map[string]string{"from": "image", "both": "req"})
	// An image without PATH gets Docker's default.
	env := mergeEnv(nil, []string{"X=1"})
	assert.DeepEqual(t, env, []string{defaultPath, "X=1"})
}

func TestEngineSpecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   container.Config
		hc    container.HostConfig
		class func(error) bool
	}{
		{name: "no command", cfg: container.Config{}, class: errdefs.IsInvalidArgument},
		{name: "bad stop signal", cfg: container.Config{Cmd: []string{"x"}, StopSignal: "SIGNOPE"}, class: errdefs.IsInvalidArgument},
		{name: "bad log driver", cfg: container.Config{Cmd: []string{"x"}}, hc: container.HostConfig{LogConfig: container.LogConfig{Type: "syslog"}}, class: errdefs.IsNotImplemented},
		{name: "bad log opt", cfg: container.Config{Cmd: []string{"x"}}, hc: container.HostConfig{LogConfig: container.LogConfig{Config: map[string]string{"max-size": "huge"}}}, class: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := engineSpec("n", &tc.cfg, &tc.hc, "sha256:x")
			assert.Assert(t, tc.class(err), "got %v", err)
		})
	}
}

func TestValidateHostConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		hc    container.HostConfig
		class func(error) bool
	}{
		{name: "tiny memory", hc: container.HostConfig{Resources: container.Resources{Memory: 1024}}, class: errdefs.IsInvalidArgument},
		{name: "nano and quota", hc: container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9, CPUQuota: 5000}}, class: errdefs.IsInvalidArgument},
		{name: "mount of a missing bind source", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/nonexistent-hbx", Target: "/b"}}}, class: errdefs.IsInvalidArgument},
		{name: "unknown runtime", hc: container.HostConfig{Runtime: "kata"}, class: errdefs.IsInvalidArgument},
		{name: "autoremove with restart", hc: container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}}, class: errdefs.IsInvalidArgument},
		{name: "unknown restart policy", hc: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}, class: errdefs.IsInvalidArgument},
		{name: "retries without on-failure", hc: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 2}}, class: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateHostConfig(&tc.hc)
			assert.Assert(t, tc.class(err), "got %v", err)
		})
	}
	assert.NilError(t, validateHostConfig(&container.HostConfig{NetworkMode: "host", Runtime: "runc"}))
}
