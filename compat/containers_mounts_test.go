package compat

import (
	"context"
	"os"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
)

func TestParseBind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want engine.Mount
		err  string // exact message, when an error is expected
	}{
		{name: "bind", raw: "/host:/ctr",
			want: engine.Mount{Type: "bind", Source: "/host", Destination: "/ctr", Propagation: "rprivate", CreateSource: true}},
		{name: "bind read-only", raw: "/host:/ctr:ro",
			want: engine.Mount{Type: "bind", Source: "/host", Destination: "/ctr", ReadOnly: true, Propagation: "rprivate", CreateSource: true, Mode: "ro"}},
		{name: "bind with label and propagation", raw: "/host/../h2:/ctr/:rw,Z,rshared",
			want: engine.Mount{Type: "bind", Source: "/h2", Destination: "/ctr", Propagation: "rshared", CreateSource: true, Mode: "rw,Z,rshared"}},
		{name: "named volume", raw: "data:/var/lib/data",
			want: engine.Mount{Type: "volume", Source: "data", Destination: "/var/lib/data", Mode: "z"}},
		{name: "named volume nocopy ro", raw: "data:/d:ro,nocopy",
			want: engine.Mount{Type: "volume", Source: "data", Destination: "/d", ReadOnly: true, NoCopy: true, Mode: "ro,nocopy"}},
		{name: "anonymous volume", raw: "/ctr",
			want: engine.Mount{Type: "volume", Destination: "/ctr", Mode: "z"}},
		{name: "destination cleaned", raw: "/h:/a/../b",
			want: engine.Mount{Type: "bind", Source: "/h", Destination: "/b", Propagation: "rprivate", CreateSource: true}},
		{name: "empty", raw: "", err: "invalid volume specification: ''"},
		{name: "empty source", raw: ":/x", err: "invalid volume specification: ':/x'"},
		{name: "destination and mode only", raw: "/x:rw", err: "invalid volume specification: '/x:rw'"},
		{name: "too many parts", raw: "a:b:c:d", err: "invalid volume specification: 'a:b:c:d'"},
		{name: "bad mode", raw: "/h:/x:bogus", err: "invalid mode: bogus"},
		{name: "two rw modes", raw: "/h:/x:ro,rw", err: "invalid mode: ro,rw"},
		{name: "relative destination", raw: "/h:../../etc",
			err: `invalid volume specification: '/h:../../etc': invalid mount config for type "bind": invalid mount path: '../../etc' mount path must be absolute`},
		{name: "destination is root after cleaning", raw: "/h:/../../..",
			err: `invalid volume specification: '/h:/../../..': invalid mount config for type "bind": invalid specification: destination can't be '/'`},
		{name: "nocopy on a bind", raw: "/h:/x:nocopy",
			err: `invalid volume specification: '/h:/x:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`},
		{name: "propagation on a volume", raw: "v1:/x:rshared",
			err: `invalid volume specification: 'v1:/x:rshared': invalid mount config for type "volume": field BindOptions must not be specified`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBind(tc.raw)
			if tc.err != "" {
				assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
				assert.Check(t, is.Error(err, tc.err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, tc.want))
		})
	}
}

func TestConvertMount(t *testing.T) {
	t.Parallel()
	existing := t.TempDir()
	tests := []struct {
		name  string
		in    mount.Mount
		want  engine.Mount
		class func(error) bool
		err   string
	}{
		{name: "bind", in: mount.Mount{Type: "bind", Source: existing, Target: "/x", ReadOnly: true},
			want: engine.Mount{Type: "bind", Source: existing, Destination: "/x", ReadOnly: true, Propagation: "rprivate"}},
		{name: "bind options", in: mount.Mount{Type: "bind", Source: "/nonexistent-hbx", Target: "/x",
			BindOptions: &mount.BindOptions{CreateMountpoint: true, NonRecursive: true, Propagation: "rslave"}},
			want: engine.Mount{Type: "bind", Source: "/nonexistent-hbx", Destination: "/x", Propagation: "rslave", NonRecursive: true, CreateSource: true}},
		{name: "bind of a missing path", in: mount.Mount{Type: "bind", Source: "/nonexistent-hbx", Target: "/x"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "bind": bind source path does not exist: /nonexistent-hbx`},
		{name: "bind without source", in: mount.Mount{Type: "bind", Target: "/x"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "bind": field Source must not be empty`},
		{name: "bind relative source", in: mount.Mount{Type: "bind", Source: "rel", Target: "/x"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{name: "bad propagation", in: mount.Mount{Type: "bind", Source: existing, Target: "/x", BindOptions: &mount.BindOptions{Propagation: "bogus"}},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "bind": invalid propagation mode: bogus`},
		{name: "recursive read-only forced", in: mount.Mount{Type: "bind", Source: existing, Target: "/x", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true}},
			class: errdefs.IsNotImplemented},
		{name: "volume", in: mount.Mount{Type: "volume", Source: "data", Target: "/d", VolumeOptions: &mount.VolumeOptions{NoCopy: true, Labels: map[string]string{"a": "b"}}},
			want: engine.Mount{Type: "volume", Source: "data", Destination: "/d", NoCopy: true, VolumeLabels: map[string]string{"a": "b"}, Mode: "z"}},
		{name: "volume of a plugin", in: mount.Mount{Type: "volume", Source: "data", Target: "/d", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nfs"}}},
			class: errdefs.IsNotFound, err: `create data: error looking up volume plugin nfs: plugin "nfs" not found`},
		{name: "volume subpath", in: mount.Mount{Type: "volume", Source: "data", Target: "/d", VolumeOptions: &mount.VolumeOptions{Subpath: "sub"}},
			class: errdefs.IsNotImplemented},
		{name: "volume relative target", in: mount.Mount{Type: "volume", Target: "x"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "volume": invalid mount path: 'x' mount path must be absolute`},
		{name: "volume on root", in: mount.Mount{Type: "volume", Target: "/a/.."},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "volume": invalid specification: destination can't be '/'`},
		{name: "no target", in: mount.Mount{Type: "volume"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "volume": field Target must not be empty`},
		{name: "foreign options", in: mount.Mount{Type: "volume", Target: "/x", BindOptions: &mount.BindOptions{}},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "volume": field BindOptions must not be specified`},
		{name: "tmpfs", in: mount.Mount{Type: "tmpfs", Target: "/t", ReadOnly: true, TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1777, Options: [][]string{{"exec"}}}},
			want: engine.Mount{Type: "tmpfs", Destination: "/t", ReadOnly: true, TmpfsOptions: []string{"mode=1777", "size=64m", "exec"}}},
		{name: "tmpfs odd size", in: mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1000}},
			want: engine.Mount{Type: "tmpfs", Destination: "/t", TmpfsOptions: []string{"size=1000"}}},
		{name: "tmpfs with source", in: mount.Mount{Type: "tmpfs", Source: "x", Target: "/t"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "tmpfs": field Source must not be specified`},
		{name: "tmpfs bad option", in: mount.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &mount.TmpfsOptions{Options: [][]string{{"suid"}}}},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "tmpfs": invalid option: suid`},
		{name: "image", in: mount.Mount{Type: "image", Source: "busybox", Target: "/i"}, class: errdefs.IsNotImplemented},
		{name: "unknown type", in: mount.Mount{Type: "weird", Target: "/x"},
			class: errdefs.IsInvalidArgument, err: `invalid mount config for type "weird": mount type unknown`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := convertMount(tc.in, true)
			if tc.class != nil {
				assert.Check(t, tc.class(err), "got %v", err)
				if tc.err != "" {
					assert.Check(t, is.Error(err, tc.err))
				}
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, tc.want))
		})
	}
}

func TestParseVolumesFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		id       string
		ro       bool
		err      bool
	}{
		{name: "plain", in: "web", id: "web"},
		{name: "ro", in: "web:ro", id: "web", ro: true},
		{name: "rw", in: "web:rw", id: "web"},
		{name: "empty", in: "", err: true},
		{name: "propagation", in: "web:rshared", err: true},
		{name: "nocopy", in: "web:nocopy", err: true},
		{name: "bogus", in: "web:x", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, ro, err := parseVolumesFrom(tc.in)
			if tc.err {
				assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(id, tc.id))
			assert.Check(t, is.Equal(ro, tc.ro))
		})
	}
}

// containerMounts applies dockerd's precedence: Binds and Mounts must not
// share a destination (nor Binds and Tmpfs), image volumes fill in only
// destinations nothing else mounts, and anonymous volumes are labelled.
func TestContainerMounts(t *testing.T) {
	t.Parallel()
	d := &Daemon{}
	ctx := context.Background()
	host := t.TempDir()
	cfg := &container.Config{Volumes: map[string]struct{}{"/data": {}, "/bound/": {}, "/tmp/t": {}}}
	hc := &container.HostConfig{
		Binds:  []string{host + ":/bound", "named:/named:ro"},
		Mounts: []mount.Mount{{Type: "volume", Target: "/anon", VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{"x": "y"}}}},
		Tmpfs:  map[string]string{"/tmp/t": "size=1m"},
	}
	ms, err := d.containerMounts(ctx, cfg, hc)
	assert.NilError(t, err)
	anon := map[string]string{anonymousVolumeLabel: ""}
	assert.Check(t, is.DeepEqual(ms, []engine.Mount{
		{Type: "volume", Destination: "/anon", Anonymous: true, Mode: "z", VolumeLabels: map[string]string{anonymousVolumeLabel: "", "x": "y"}},
		{Type: "bind", Source: host, Destination: "/bound", Propagation: "rprivate", CreateSource: true},
		{Type: "volume", Destination: "/data", Anonymous: true, VolumeLabels: anon},
		{Type: "volume", Source: "named", Destination: "/named", ReadOnly: true, Mode: "ro"},
	}))

	dup := []struct {
		name string
		hc   container.HostConfig
		err  string
	}{
		{name: "binds twice", hc: container.HostConfig{Binds: []string{host + ":/x", "v1:/x"}}, err: "Duplicate mount point: /x"},
		{name: "bind and mount", hc: container.HostConfig{Binds: []string{host + ":/x"}, Mounts: []mount.Mount{{Type: "volume", Target: "/x/"}}}, err: "Duplicate mount point: /x/"},
		{name: "bind and tmpfs", hc: container.HostConfig{Binds: []string{host + ":/x"}, Tmpfs: map[string]string{"/x": ""}}, err: "Duplicate mount point: /x"},
		{name: "bad volume name", hc: container.HostConfig{Binds: []string{"../../etc:/x"}},
			err: `create ../../etc: "../../etc" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
	}
	for _, tc := range dup {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.containerMounts(ctx, &container.Config{}, &tc.hc)
			assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
			assert.Check(t, is.Error(err, tc.err))
		})
	}
	_, err = d.containerMounts(ctx, &container.Config{Volumes: map[string]struct{}{"../../etc": {}}}, &container.HostConfig{})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
	_, err = d.containerMounts(ctx, &container.Config{Volumes: map[string]struct{}{"/v": {}}}, &container.HostConfig{VolumeDriver: "nfs"})
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)
}

func TestMountPointsAndFilter(t *testing.T) {
	t.Parallel()
	c := &engine.Container{Spec: engine.ContainerSpec{Mounts: []engine.Mount{
		{Type: "volume", Source: "data", Destination: "/data", HostPath: "/v/data/_data", Driver: "local", Mode: "z"},
		{Type: "bind", Source: "/host", Destination: "/b", ReadOnly: true, Propagation: "rprivate", Mode: "ro"},
		{Type: "tmpfs", Destination: "/a"},
	}}}
	assert.Check(t, is.DeepEqual(mountPoints(c), []container.MountPoint{
		{Type: "tmpfs", Destination: "/a", RW: true},
		{Type: "bind", Source: "/host", Destination: "/b", Mode: "ro", Propagation: "rprivate"},
		{Type: "volume", Name: "data", Source: "/v/data/_data", Destination: "/data", Driver: "local", Mode: "z", RW: true},
	}))
	for _, v := range []string{"data", "/host", "/b", "/a"} {
		assert.Check(t, matchVolumeFilter(map[string]bool{v: true}, c), v)
	}
	assert.Check(t, !matchVolumeFilter(map[string]bool{"/v/data/_data": true, "other": true}, c))
	assert.Check(t, is.Len(mountPoints(&engine.Container{}), 0))
	assert.Check(t, mountPoints(&engine.Container{}) != nil, "never null in JSON")
}

func TestValidateMounts(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "f")
	assert.NilError(t, err)
	f.Close()
	assert.NilError(t, validateMounts(&container.HostConfig{Mounts: []mount.Mount{{Type: "bind", Source: f.Name(), Target: "/f"}}}))
	err = validateMounts(&container.HostConfig{Mounts: []mount.Mount{{Type: "bind", Source: "/nonexistent-hbx", Target: "/f"}}})
	assert.Check(t, is.Error(err, `invalid mount config for type "bind": bind source path does not exist: /nonexistent-hbx`))
}
