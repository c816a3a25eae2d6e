package compat

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/httputil"
)

func TestApplyCommitChanges(t *testing.T) {
	t.Parallel()
	base := func() *container.Config {
		return &container.Config{
			Cmd: []string{"sh"}, Entrypoint: []string{"/init"}, Env: []string{"PATH=/bin", "A=1"},
			WorkingDir: "/app", Labels: map[string]string{"keep": "1"},
			ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}},
		}
	}
	tests := []struct {
		name    string
		changes []string
		check   func(t *testing.T, c *container.Config)
		wantErr string
	}{
		{name: "none", check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c, base()))
		}},
		{name: "cmd exec form", changes: []string{`CMD ["cat","/marker"]`}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Cmd, []string{"cat", "/marker"}))
			assert.Check(t, is.DeepEqual(c.Entrypoint, []string{"/init"}))
		}},
		{name: "cmd shell form", changes: []string{"cmd echo hi"}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi"}))
		}},
		{name: "entrypoint clears cmd", changes: []string{`ENTRYPOINT ["/new"]`}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Entrypoint, []string{"/new"}))
			assert.Check(t, is.Len(c.Cmd, 0))
		}},
		{name: "entrypoint and cmd", changes: []string{`CMD ["x"]`, `ENTRYPOINT ["/new"]`}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Cmd, []string{"x"}))
		}},
		{name: "env by key", changes: []string{"ENV A=2", "ENV B 3"}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Env, []string{"PATH=/bin", "A=2", "B=3"}))
		}},
		{name: "labels, ports, volumes", changes: []string{"LABEL x=y", "EXPOSE 8080 53/udp", "VOLUME /data", `VOLUME ["/a", "/b"]`}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Labels, map[string]string{"keep": "1", "x": "y"}))
			assert.Check(t, is.Len(c.ExposedPorts, 3))
			_, ok := c.ExposedPorts[network.MustParsePort("53/udp")]
			assert.Check(t, ok)
			assert.Check(t, is.DeepEqual(c.Volumes, map[string]struct{}{"/data": {}, "/a": {}, "/b": {}}))
		}},
		{name: "relative workdir", changes: []string{"WORKDIR sub"}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.Equal(c.WorkingDir, "/app/sub"))
		}},
		{name: "user, stopsignal, onbuild", changes: []string{"USER nobody", "STOPSIGNAL SIGINT", "ONBUILD RUN make"}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.Equal(c.User, "nobody"))
			assert.Check(t, is.Equal(c.StopSignal, "SIGINT"))
			assert.Check(t, is.DeepEqual(c.OnBuild, []string{"RUN make"}))
		}},
		{name: "healthcheck", changes: []string{`HEALTHCHECK --interval=5s --retries=2 CMD ["true"]`}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Healthcheck, &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: 5 * time.Second, Retries: 2}))
		}},
		{name: "healthcheck shell", changes: []string{"HEALTHCHECK CMD curl -f localhost"}, check: func(t *testing.T, c *container.Config) {
			assert.Check(t, is.DeepEqual(c.Healthcheck.Test, []string{"CMD-SHELL", "curl -f localhost"}))
		}},
		{name: "run refused", changes: []string{"RUN echo hi"}, wantErr: "run is not a valid change command"},
		{name: "from refused", changes: []string{"FROM scratch"}, wantErr: "from is not a valid change command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			got, err := applyCommitChanges(b, tc.changes)
			if tc.wantErr != "" {
				assert.Check(t, is.ErrorContains(err, tc.wantErr))
				assert.Check(t, errdefs.IsInvalidArgument(err))
				return
			}
			assert.NilError(t, err)
			tc.check(t, got)
			assert.Check(t, is.DeepEqual(b, base()), "the base config was modified")
		})
	}
}

func TestMergeCommitConfig(t *testing.T) {
	t.Parallel()
	ctr := &container.Config{User: "u", Cmd: []string{"c"}, Entrypoint: []string{"e"}, Env: []string{"A=1", "B=2"},
		WorkingDir: "/w", StopSignal: "SIGUSR1", Labels: map[string]string{"l": "1"}}
	cfg := &container.Config{Env: []string{"A=9"}, Labels: map[string]string{"m": "2"}}
	mergeCommitConfig(cfg, ctr)
	assert.Check(t, is.Equal(cfg.User, "u"))
	assert.Check(t, is.DeepEqual(cfg.Env, []string{"A=9", "B=2"}))
	assert.Check(t, is.DeepEqual(cfg.Cmd, []string{"c"}))
	assert.Check(t, is.DeepEqual(cfg.Entrypoint, []string{"e"}))
	assert.Check(t, is.DeepEqual(cfg.Labels, map[string]string{"l": "1", "m": "2"}))
	assert.Check(t, is.Equal(cfg.WorkingDir, "/w"))
	assert.Check(t, is.Equal(cfg.StopSignal, "SIGUSR1"))

	// An entrypoint set by the changes does not get the container's cmd.
	cfg = &container.Config{Entrypoint: []string{"/new"}}
	mergeCommitConfig(cfg, ctr)
	assert.Check(t, is.Len(cfg.Cmd, 0))

	img := imageConfig(&container.Config{Cmd: []string{"x"}, ExposedPorts: network.PortSet{network.MustParsePort("8080/tcp"): {}}, Hostname: "h"})
	assert.Check(t, is.DeepEqual(img.Cmd, []string{"x"}))
	assert.Check(t, is.DeepEqual(img.ExposedPorts, map[string]struct{}{"8080/tcp": {}}))
}

func TestCommitRef(t *testing.T) {
	t.Parallel()
	tests := []struct{ repo, tag, want, wantErr string }{
		{repo: "", tag: "v1", want: ""},
		{repo: "app", want: "docker.io/library/app:latest"},
		{repo: "app", tag: "v1", want: "docker.io/library/app:v1"},
		{repo: "localhost:5000/a/b:t", want: "localhost:5000/a/b:t"},
		{repo: "Bad", wantErr: "invalid reference format"},
		{repo: "app@sha256:" + strings.Repeat("a", 64), wantErr: "cannot import digest reference"},
		{repo: "app", tag: "bad tag", wantErr: "invalid tag format"},
	}
	for _, tc := range tests {
		t.Run(tc.repo+":"+tc.tag, func(t *testing.T) {
			got, err := commitRef(tc.repo, tc.tag)
			if tc.wantErr != "" {
				assert.Check(t, is.ErrorContains(err, tc.wantErr))
				assert.Check(t, errdefs.IsInvalidArgument(err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
}

func TestArchiveError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
		code int
	}{
		{name: "missing path", err: &engine.PathNotFoundError{Path: "/x"}, want: "Could not find the file /x/ in container web", code: 404},
		{name: "missing container", err: fmt.Errorf("container %q: %w", "web", errdefs.ErrNotFound), want: "No such container: web", code: 404},
		{name: "not a directory", err: fmt.Errorf("extraction point is not a directory: %w", errdefs.ErrInvalidArgument),
			want: "extraction point is not a directory", code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := archiveError("web", "/x/", tc.err)
			assert.Check(t, is.Equal(httputil.ErrorMessage(err), tc.want))
			assert.Check(t, is.Equal(httputil.StatusFromError(err), tc.code))
		})
	}
	assert.Check(t, is.Equal(changeKind(engine.ChangeAdded), container.ChangeAdd))
	assert.Check(t, is.Equal(changeKind(engine.ChangeDeleted), container.ChangeDelete))
	assert.Check(t, is.Equal(changeKind(engine.ChangeModified), container.ChangeModify))
}
