package storage_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

// assertUnpacked checks that the image is unpacked in the store's
// snapshotter.
func assertUnpacked(t *testing.T, e *env, img storage.Image) {
	t.Helper()
	_, err := e.client.SnapshotService(e.store.Snapshotter()).Stat(e.ctx, img.ChainID.String())
	assert.Check(t, err, "snapshot of %s", img.ID)
}

func TestLoadDockerArchive(t *testing.T) {
	e := newEnv(t)
	tagged, untagged := randomImage(t, 2, ""), randomImage(t, 1, "")
	tag, err := name.NewTag("example.com/load/arch:v1")
	assert.NilError(t, err)
	dig, err := name.NewDigest("example.com/load/untagged@" + imageDigest(t, untagged))
	assert.NilError(t, err)
	var buf bytes.Buffer
	assert.NilError(t, tarball.MultiRefWrite(map[name.Reference]v1.Image{tag: tagged, dig: untagged}, &buf))

	rec := &recorder{}
	loaded, err := e.store.Load(e.ctx, &buf, rec.fn)
	assert.NilError(t, err)
	assert.Check(t, is.Len(loaded, 2))
	assert.Check(t, is.Contains(loaded, "example.com/load/arch:v1"))
	assert.Check(t, is.Contains(loaded, imageID(t, untagged)))
	for _, id := range layerIDs(t, tagged) {
		assert.Check(t, is.DeepEqual(rec.byLayer()[id],
			[]storage.ProgressAction{storage.ProgressLayerExtracting, storage.ProgressLayerDone}))
	}

	img, err := e.store.Get(e.ctx, "example.com/load/arch:v1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(img.ID.String(), imageID(t, tagged)))
	assert.Check(t, img.Config.Config.Healthcheck != nil)
	assertUnpacked(t, e, img)
	dangling, err := e.store.Get(e.ctx, imageID(t, untagged))
	assert.NilError(t, err)
	assert.Check(t, dangling.Dangling)
	assertUnpacked(t, e, dangling)

	_, err = e.store.Load(e.ctx, bytes.NewReader([]byte("not a tar")), nil)
	assert.Check(t, err != nil)
}

func TestLoadOCILayout(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	assert.NilError(t, err)
	one, two, three := randomImage(t, 1, ""), randomImage(t, 1, ""), randomImage(t, 1, "")
	assert.NilError(t, p.AppendImage(one, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "example.com/oci/one:v1",
	})))
	assert.NilError(t, p.AppendImage(two, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/library/oci-two:latest",
		"org.opencontainers.image.ref.name": "latest",
	})))
	assert.NilError(t, p.AppendImage(three, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "v3", // a bare tag names nothing
	})))

	loaded, err := e.store.Load(e.ctx, tarDir(t, dir), nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(loaded, []string{"example.com/oci/one:v1", "docker.io/library/oci-two:latest", imageID(t, three)}))
	for _, n := range loaded {
		img, err := e.store.Get(e.ctx, n)
		assert.NilError(t, err)
		assertUnpacked(t, e, img)
	}
}

// tarDir tars a directory with paths relative to it.
func tarDir(t *testing.T, dir string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	return &buf
}

func TestSaveDeleteLoad(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	ref := reg.ref("save/app:v1")
	img := pullNew(t, e, reg, ref, 2)

	var buf bytes.Buffer
	assert.NilError(t, e.store.Save(e.ctx, &buf, []string{ref}))
	files := tarFiles(t, buf.Bytes())
	for _, f := range []string{"oci-layout", "index.json", "manifest.json"} {
		assert.Check(t, files[f] != nil, "%s missing", f)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	assert.NilError(t, json.Unmarshal(files["manifest.json"], &manifest))
	assert.Assert(t, is.Len(manifest, 1))
	assert.Check(t, is.DeepEqual(manifest[0].RepoTags, []string{ref}))
	assert.Check(t, is.Len(manifest[0].Layers, 2))

	res, err := e.store.Delete(e.ctx, ref, storage.DeleteOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, []storage.DeleteResult{{Untagged: ref}, {Deleted: img.ID}}))
	_, err = e.store.Get(e.ctx, ref)
	assert.Check(t, err != nil)

	loaded, err := e.store.Load(e.ctx, bytes.NewReader(buf.Bytes()), nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(loaded, []string{ref}))
	back, err := e.store.Get(e.ctx, ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(back.ID, img.ID))
	assertUnpacked(t, e, back)

	// By ID: no name in the archive.
	buf.Reset()
	assert.NilError(t, e.store.Save(e.ctx, &buf, []string{img.ID.String()}))
	assert.NilError(t, json.Unmarshal(tarFiles(t, buf.Bytes())["manifest.json"], &manifest))
	assert.Check(t, is.Len(manifest[0].RepoTags, 0))
}

func tarFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		assert.NilError(t, err)
		p, err := io.ReadAll(tr)
		assert.NilError(t, err)
		out[hdr.Name] = p
	}
}
