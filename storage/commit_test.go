package storage_test

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

func TestCommit(t *testing.T) {
	e := newEnv(t)
	base, err := e.store.Import(e.ctx, rootfsTar(t, false), "example.com/base:v1", ocispec.ImageConfig{Cmd: []string{"/bin/old"}}, "base")
	assert.NilError(t, err)

	// A layer as the differ leaves it: in the content store, under the
	// caller's lease.
	ctx, done, err := e.client.WithLease(e.ctx)
	assert.NilError(t, err)
	defer done(e.ctx)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	assert.NilError(t, tw.WriteHeader(&tar.Header{Name: "added", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}))
	_, err = tw.Write([]byte("new"))
	assert.NilError(t, err)
	assert.NilError(t, tw.Close())
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(buf.Bytes()), Size: int64(buf.Len())}
	assert.NilError(t, content.WriteBlob(ctx, e.client.ContentStore(), "test-layer", bytes.NewReader(buf.Bytes()), layer))

	cfg := dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"cat", "/added"}, Env: []string{"A=b"}}}
	img, err := e.store.Commit(ctx, base.ID.String(), &layer, layer.Digest,
		storage.CommitConfig{Config: cfg, Author: "me", Comment: "msg", CreatedBy: "sh -c touch /added"}, "example.com/committed:v1")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(img.Names, []string{"example.com/committed:v1"}))
	assert.Check(t, is.DeepEqual(img.Config.RootFS.DiffIDs, append(base.Config.RootFS.DiffIDs, layer.Digest)))
	assert.Check(t, is.DeepEqual(img.Config.Config.Cmd, []string{"cat", "/added"}))
	assert.Check(t, is.Equal(img.Config.Author, "me"))
	assert.Check(t, is.Equal(img.Config.Platform.OS, base.Config.Platform.OS))
	h := img.Config.History
	assert.Assert(t, is.Len(h, len(base.Config.History)+1))
	last := h[len(h)-1]
	assert.Check(t, is.Equal(last.Comment, "msg"))
	assert.Check(t, is.Equal(last.Author, "me"))
	assert.Check(t, is.Equal(last.CreatedBy, "sh -c touch /added"))
	assert.Check(t, !last.EmptyLayer)
	// Unpacked: the image's root filesystem snapshot exists.
	_, err = e.client.SnapshotService(e.store.Snapshotter()).Stat(e.ctx, img.ChainID.String())
	assert.NilError(t, err)
	hist, err := e.store.History(e.ctx, "example.com/committed:v1")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(hist[0].Comment, "msg"))

	t.Run("no changes", func(t *testing.T) {
		img, err := e.store.Commit(ctx, base.ID.String(), nil, "", storage.CommitConfig{Config: cfg}, "")
		assert.NilError(t, err)
		assert.Check(t, img.Dangling)
		assert.Check(t, is.DeepEqual(img.Config.RootFS.DiffIDs, base.Config.RootFS.DiffIDs))
		assert.Check(t, img.Config.History[len(img.Config.History)-1].EmptyLayer)
	})
	t.Run("errors", func(t *testing.T) {
		_, err := e.store.Commit(ctx, base.ID.String(), nil, "", storage.CommitConfig{}, "Bad:Ref")
		assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
		_, err = e.store.Commit(ctx, base.ID.String(), nil, "", storage.CommitConfig{}, "example.com/x@"+layer.Digest.String())
		assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
		_, err = e.store.Commit(ctx, "sha256:"+digest.FromString("nope").Encoded(), nil, "", storage.CommitConfig{}, "")
		assert.Check(t, errdefs.IsNotFound(err), "got %v", err)
	})
}
