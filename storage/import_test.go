package storage_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

// rootfsTar is a small root filesystem, gzip-compressed or not.
func rootfsTar(t *testing.T, compressed bool) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var gz *gzip.Writer
	if compressed {
		gz = gzip.NewWriter(&buf)
		w = gz
	}
	tw := tar.NewWriter(w)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}))
	data := bytes.Repeat([]byte("hello\n"), 1000)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "etc/hello", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}))
	_, err := tw.Write(data)
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	if gz != nil {
		assert.NilError(t, gz.Close())
	}
	return &buf
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		ref        string
		compressed bool
		message    string
		wantNames  []string
		comment    string
	}{
		{name: "gzip with name", ref: "example.com/imported:v1", compressed: true, message: "from a test",
			wantNames: []string{"example.com/imported:v1"}, comment: "from a test"},
		{name: "plain dangling", compressed: false, wantNames: []string{}, comment: "Imported from -"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ocispec.ImageConfig{Cmd: []string{"/bin/true"}, Env: []string{"A=b"}}
			img, err := e.store.Import(e.ctx, rootfsTar(t, tc.compressed), tc.ref, cfg, tc.message)
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(img.Names, tc.wantNames))
			assert.Check(t, is.Equal(img.Dangling, tc.ref == ""))
			assert.Check(t, is.DeepEqual(img.Config.Config.Cmd, []string{"/bin/true"}))
			assert.Check(t, is.Equal(img.Manifest.MediaType, ocispec.MediaTypeImageManifest))
			assert.Check(t, img.Size >= 6000, "size %d", img.Size)
			assertUnpacked(t, e, img)

			h, err := e.store.History(e.ctx, img.ID.String())
			assert.NilError(t, err)
			assert.Assert(t, is.Len(h, 1))
			assert.Check(t, is.Equal(h[0].ID, img.ID.String()))
			assert.Check(t, is.Equal(h[0].Comment, tc.comment))
			assert.Check(t, is.Equal(h[0].Size, img.Size))
		})
	}
	_, err := e.store.Import(e.ctx, bytes.NewReader(nil), "", ocispec.ImageConfig{}, "")
	assert.Check(t, err != nil, "empty archive")
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	ref := reg.ref("hist/app:v1")
	img := pullNew(t, e, reg, ref, 3)
	h, err := e.store.History(e.ctx, ref)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(h, 3))
	assert.Check(t, is.Equal(h[0].ID, img.ID.String()))
	assert.Check(t, is.DeepEqual(h[0].Tags, []string{ref}))
	var total int64
	for i, entry := range h {
		if i > 0 {
			assert.Check(t, is.Equal(entry.ID, "<missing>"))
		}
		assert.Check(t, is.Equal(entry.CreatedBy, "random"))
		assert.Check(t, entry.Size > 0)
		total += entry.Size
	}
	assert.Check(t, is.Equal(h[0].Comment, "this is a random history 2 of 3"), "newest first")
	assert.Check(t, is.Equal(total, img.Size))
}

func TestPrune(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	ref := reg.ref("prune/app:v1")
	old := pullNew(t, e, reg, ref, 2)
	current := pullNew(t, e, reg, ref, 1) // old is now dangling
	used := pullNew(t, e, reg, reg.ref("prune/used:v1"), 1)

	res, reclaimed, err := e.store.Prune(e.ctx, false, nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, []storage.DeleteResult{{Deleted: old.ID}}))
	assert.Check(t, reclaimed > 2*2048, "reclaimed %d", reclaimed)

	res, reclaimed, err = e.store.Prune(e.ctx, true, inUse(used.ID))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, []storage.DeleteResult{{Untagged: ref}, {Deleted: current.ID}}))
	assert.Check(t, reclaimed > 0)
	list, err := e.store.List(e.ctx)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(list, 1))
	assert.Check(t, is.Equal(list[0].ID, used.ID))
}
