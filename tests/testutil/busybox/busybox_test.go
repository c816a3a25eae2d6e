package busybox_test

import (
	"archive/tar"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestImageConfig(t *testing.T) {
	img := busybox.Image(t)
	cf, err := img.ConfigFile()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(cf.OS, "linux"))
	assert.Check(t, is.Equal(cf.Architecture, runtime.GOARCH))
	assert.Check(t, is.DeepEqual(cf.Config.Cmd, []string{"sh"}))
	assert.Check(t, is.DeepEqual(cf.Config.Env, []string{busybox.DefaultPath}))
	mt, err := img.MediaType()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(mt, types.DockerManifestSchema2))

	// Same image every time: the ID is stable across builds and processes.
	again, err := busybox.Image(t).ConfigName()
	assert.NilError(t, err)
	id, err := img.ConfigName()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(again, id))

	variant, err := busybox.Image(t, busybox.WithLabel("a", "b")).ConfigName()
	assert.NilError(t, err)
	assert.Check(t, variant != id, "a labelled variant must have its own ID")
}

func TestLayerContents(t *testing.T) {
	layers, err := busybox.Image(t).Layers()
	assert.NilError(t, err)
	assert.Assert(t, is.Len(layers, 1))
	rc, err := layers[0].Uncompressed()
	assert.NilError(t, err)
	defer rc.Close()

	entries := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		assert.NilError(t, err)
		entries[hdr.Name] = hdr
	}
	for _, dir := range []string{"etc/", "tmp/", "root/", "proc/", "sys/", "dev/", "var/", "bin/"} {
		assert.Check(t, entries[dir] != nil, "missing %s", dir)
	}
	assert.Check(t, is.Equal(entries["tmp/"].Mode&0o7777, int64(0o1777)))
	assert.Check(t, is.Equal(entries["bin/busybox"].Typeflag, byte(tar.TypeReg)))
	for _, applet := range []string{"sh", "echo", "cat", "sleep", "id", "hostname"} {
		h := entries["bin/"+applet]
		if assert.Check(t, h != nil, "missing applet %s", applet) {
			assert.Check(t, is.Equal(h.Typeflag, byte(tar.TypeSymlink)))
			assert.Check(t, is.Equal(h.Linkname, "busybox"))
		}
	}
	assert.Check(t, entries["etc/passwd"] != nil)
	assert.Check(t, entries["etc/group"] != nil)
}

func TestWriteDockerArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img.tar")
	busybox.WriteDockerArchive(t, p, "busybox:latest")
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	assert.NilError(t, err)
	assert.Assert(t, is.Len(m, 1))
	assert.Check(t, is.DeepEqual(m[0].RepoTags, []string{"busybox:latest"}))
}

func TestWriteOCIArchive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img.tar")
	busybox.WriteOCIArchive(t, p, "busybox:v1")

	dir := t.TempDir()
	untar(t, p, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	assert.NilError(t, err)
	im, err := idx.IndexManifest()
	assert.NilError(t, err)
	assert.Assert(t, is.Len(im.Manifests, 1))
	desc := im.Manifests[0]
	assert.Check(t, is.Equal(desc.MediaType, types.OCIManifestSchema1))
	assert.Check(t, is.Equal(desc.Annotations["io.containerd.image.name"], "docker.io/library/busybox:v1"))
	assert.Check(t, is.Equal(desc.Annotations["org.opencontainers.image.ref.name"], "v1"))
	img, err := idx.Image(desc.Digest)
	assert.NilError(t, err)
	layers, err := img.Layers()
	assert.NilError(t, err)
	assert.Assert(t, is.Len(layers, 1))
	mt, err := layers[0].MediaType()
	assert.NilError(t, err)
	assert.Check(t, is.Equal(mt, types.OCILayer))
}

func TestPush(t *testing.T) {
	cases := []struct {
		name string
		opts []registry.Option
		push []busybox.PushOption
	}{
		{name: "anonymous"},
		{name: "basic auth", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, push: []busybox.PushOption{busybox.WithBasicAuth("u", "p")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.Start(t, tc.opts...)
			busybox.Push(t, reg.LocalhostHost()+"/test/busybox:latest", tc.push...)

			req, err := http.NewRequest(http.MethodGet, "http://"+reg.Host()+"/v2/test/busybox/manifests/latest", nil)
			assert.NilError(t, err)
			req.Header.Set("Accept", string(types.DockerManifestSchema2))
			if len(tc.opts) > 0 {
				req.SetBasicAuth("u", "p")
			}
			resp, err := http.DefaultClient.Do(req)
			assert.NilError(t, err)
			defer resp.Body.Close()
			assert.Check(t, is.Equal(resp.StatusCode, http.StatusOK))
			m, err := v1.ParseManifest(resp.Body)
			assert.NilError(t, err)
			assert.Check(t, is.Len(m.Layers, 1))
		})
	}
}

func untar(t *testing.T, archive, dst string) {
	t.Helper()
	f, err := os.Open(archive)
	assert.NilError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		assert.NilError(t, err)
		p := filepath.Join(dst, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			assert.NilError(t, os.MkdirAll(p, 0o755))
			continue
		}
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		out, err := os.Create(p)
		assert.NilError(t, err)
		_, err = io.Copy(out, tr)
		assert.NilError(t, err)
		assert.NilError(t, out.Close())
	}
}
