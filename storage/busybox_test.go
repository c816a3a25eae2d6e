package storage_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
)

// assertFile mounts a read-only view of img's root filesystem and checks
// that path exists in it.
func assertFile(t *testing.T, e *env, img storage.Image, path string) {
	t.Helper()
	sn := e.client.SnapshotService(e.store.Snapshotter())
	key := "view-" + img.ID.Encoded()[:12] + "-" + filepath.Base(t.Name())
	mounts, err := sn.View(e.ctx, key, img.ChainID.String())
	assert.NilError(t, err)
	defer func() { _ = sn.Remove(e.ctx, key) }()
	dir := t.TempDir()
	assert.NilError(t, mount.All(mounts, dir))
	defer func() { _ = mount.UnmountAll(dir, 0) }()
	_, err = os.Lstat(filepath.Join(dir, path))
	assert.Check(t, err, "%s in %s", path, img.ID)
}

// TestBusybox runs the real busybox image (one layer of real files) through
// pull from a "localhost:" registry, save, delete and load of both archive
// formats, and checks the unpacked root filesystem.
func TestBusybox(t *testing.T) {
	e := newEnv(t)
	reg := registry.Start(t)
	ref := reg.LocalhostHost() + "/bb/busybox:latest"
	busybox.Push(t, ref)

	res, err := e.store.Pull(e.ctx, ref, nil, "", nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Image.Names, []string{ref}))
	assert.Check(t, is.Contains(res.Image.Config.Config.Env, busybox.DefaultPath))
	assertFile(t, e, res.Image, "bin/busybox")
	assertFile(t, e, res.Image, "bin/sh")

	dir := t.TempDir()
	archives := []struct {
		name  string
		write func(path string)
		want  string
	}{
		{name: "docker archive", want: "docker.io/library/bbdocker:v1",
			write: func(p string) { busybox.WriteDockerArchive(t, p, "bbdocker:v1") }},
		{name: "oci archive", want: "docker.io/library/bboci:v1",
			write: func(p string) { busybox.WriteOCIArchive(t, p, "bboci:v1") }},
	}
	for _, a := range archives {
		t.Run(a.name, func(t *testing.T) {
			p := filepath.Join(dir, filepath.Base(t.Name())+".tar")
			a.write(p)
			f, err := os.Open(p)
			assert.NilError(t, err)
			defer f.Close()
			loaded, err := e.store.Load(e.ctx, f, nil)
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(loaded, []string{a.want}))
			img, err := e.store.Get(e.ctx, a.want)
			assert.NilError(t, err)
			assertFile(t, e, img, "bin/busybox")
		})
	}
}
