package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/engine/volume"
)

// A container's volumes, binds and tmpfs mounts on real containerd: create
// resolves and references the volumes and copies the image's files into
// empty ones; the runtime mounts them as asked; removal releases them and,
// with RemoveVolumes, removes the anonymous ones; references come back
// with a restarted engine.
func TestVolumeMounts(t *testing.T) {
	x := newEnv(t)
	host := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(host, "f"), []byte("host\n"), 0o644))
	c := x.create(t, engine.ContainerSpec{
		Args: []string{"sh", "-c", "cat /etc/passwd >/dev/null && echo new > /etc/new && cat /host/f && grep ' /t ' /proc/mounts; touch /host/x"},
		Mounts: []engine.Mount{
			{Type: engine.MountVolume, Source: "data", Destination: "/etc"},
			{Type: engine.MountVolume, Destination: "/root", Anonymous: true},
			{Type: engine.MountBind, Source: host, Destination: "/host", ReadOnly: true},
			{Type: engine.MountTmpfs, Destination: "/t", TmpfsOptions: []string{"size=1m"}},
		},
	})
	ms := c.Spec.Mounts
	assert.Assert(t, is.Len(ms, 4))
	assert.Check(t, is.Equal(ms[0].HostPath, filepath.Join(filepath.Dir(x.opts.Root), "volumes", "data", "_data")))
	assert.Check(t, is.Equal(ms[0].Driver, "local"))
	anon := ms[1].Source
	assert.Check(t, is.Len(anon, 64), "an anonymous volume gets a generated name")
	assert.Check(t, is.Equal(ms[2].HostPath, host))

	// Copy-up at create: the image's /etc files, /root's mode.
	data, err := os.ReadFile(filepath.Join(ms[0].HostPath, "passwd"))
	assert.NilError(t, err)
	assert.Check(t, is.Contains(string(data), "root:"))
	fi, err := os.Stat(ms[1].HostPath)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(fi.Mode().Perm(), os.FileMode(0o700)))

	ch, err := x.e.Wait(x.ctx, c.ID, engine.WaitNextExit)
	assert.NilError(t, err)
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	assert.Check(t, is.Equal(wait(t, ch), 1))
	out, errs := x.logs(t, c.ID)
	assert.Check(t, is.Contains(out, "host\n"))
	assert.Check(t, is.Contains(out, "tmpfs /t tmpfs rw,nosuid,nodev,noexec"))
	assert.Check(t, is.Contains(errs, "Read-only file system"))
	data, err = os.ReadFile(filepath.Join(ms[0].HostPath, "new"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "new\n"))

	// In use: not removable; references are container IDs.
	err = x.e.VolumeRemove(x.ctx, "data")
	var inUse *volume.InUseError
	assert.Check(t, errors.As(err, &inUse), "got %v", err)
	assert.Check(t, is.DeepEqual(x.e.VolumeUsers(anon), []string{c.ID}))

	// A second container takes "data" too; then the engine restarts.
	c2 := x.create(t, engine.ContainerSpec{Args: []string{"true"},
		Mounts: []engine.Mount{{Type: engine.MountVolume, Source: "data", Destination: "/d", NoCopy: true}}})
	e2, err := engine.New(x.ctx, x.opts)
	assert.NilError(t, err)
	x.e = e2
	assert.Check(t, is.DeepEqual(x.e.VolumeUsers("data"), sortedIDs(c.ID, c2.ID)))

	assert.NilError(t, x.e.Remove(x.ctx, c.ID, engine.RemoveOptions{RemoveVolumes: true}))
	_, err = x.e.Volume(x.ctx, anon)
	assert.Check(t, errdefs.IsNotFound(err), "the anonymous volume goes with rm -v")
	assert.Check(t, is.DeepEqual(x.e.VolumeUsers("data"), []string{c2.ID}))
	assert.NilError(t, x.e.Remove(x.ctx, c2.ID, engine.RemoveOptions{RemoveVolumes: true}))
	_, err = x.e.Volume(x.ctx, "data")
	assert.NilError(t, err, "named volumes stay")
	assert.NilError(t, x.e.VolumeRemove(x.ctx, "data"))
}

func sortedIDs(a, b string) []string {
	if a > b {
		a, b = b, a
	}
	return []string{a, b}
}

// Create refuses mounts the runtime cannot make and leaves no volume or
// reference behind.
func TestVolumeMountsRefused(t *testing.T) {
	x := newEnv(t)
	tests := []struct {
		name   string
		mounts []engine.Mount
	}{
		{name: "relative destination", mounts: []engine.Mount{{Type: engine.MountTmpfs, Destination: "../etc"}}},
		{name: "root destination", mounts: []engine.Mount{{Type: engine.MountVolume, Destination: "/"}}},
		{name: "unclean destination", mounts: []engine.Mount{{Type: engine.MountVolume, Destination: "/a/../etc"}}},
		{name: "duplicate", mounts: []engine.Mount{{Type: engine.MountVolume, Destination: "/a", Anonymous: true}, {Type: engine.MountTmpfs, Destination: "/a"}}},
		{name: "bad volume name", mounts: []engine.Mount{{Type: engine.MountVolume, Source: "../../etc", Destination: "/a"}}},
		{name: "missing bind source", mounts: []engine.Mount{{Type: engine.MountBind, Source: "/nonexistent-hbx", Destination: "/a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := x.e.Create(x.ctx, engine.ContainerSpec{Image: x.image, Args: []string{"true"}, Mounts: tc.mounts}, nil)
			assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
		})
	}
	assert.Check(t, is.Len(x.e.Volumes(x.ctx), 0), "a failed create leaves its anonymous volumes behind")
	assert.Check(t, is.Len(x.e.List(x.ctx), 0))
}
