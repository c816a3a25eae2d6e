package storage_test

import (
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

func TestPushAndPullBack(t *testing.T) {
	e := newEnv(t)
	src := startRegistry(t)
	dst := startRegistry(t, withBasicAuth("carol", "pw"))
	img := randomImage(t, 2, "")
	srcRef := src.ref("push/src:v1")
	src.push(t, srcRef, img)
	pulled, err := e.store.Pull(e.ctx, srcRef, nil, "", nil)
	assert.NilError(t, err)

	newRef := dst.ref("push/dst:v2")
	assert.NilError(t, e.store.Tag(e.ctx, srcRef, newRef))
	auth := &storage.Auth{Username: "carol", Password: "pw"}

	_, err = e.store.Push(e.ctx, newRef, nil, nil)
	assert.Check(t, errdefs.IsUnauthorized(err), "push without credentials: %v", err)

	rec := &recorder{}
	res, err := e.store.Push(e.ctx, newRef, auth, rec.fn)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Tag, "v2"))
	assert.Check(t, is.Equal(res.Digest.String(), imageDigest(t, img)))
	assert.Check(t, res.Size > 0)
	want := []storage.ProgressAction{storage.ProgressLayerPreparing, storage.ProgressLayerUploading, storage.ProgressLayerPushed}
	for _, id := range layerIDs(t, img) {
		assert.Check(t, is.DeepEqual(rec.byLayer()[id], want), "layer %s", id)
	}
	got, err := e.store.Get(e.ctx, newRef)
	assert.NilError(t, err)
	assert.Check(t, is.Contains(got.RepoDigests, dst.ref("push/dst@")+imageDigest(t, img)))

	// Pushing again finds every layer there.
	rec = &recorder{}
	_, err = e.store.Push(e.ctx, newRef, auth, rec.fn)
	assert.NilError(t, err)
	for _, id := range layerIDs(t, img) {
		assert.Check(t, is.DeepEqual(rec.byLayer()[id],
			[]storage.ProgressAction{storage.ProgressLayerPreparing, storage.ProgressLayerExists}), "layer %s", id)
	}

	// Forget everything locally and pull the pushed copy back.
	_, err = e.store.Delete(e.ctx, pulled.Image.ID.String(), storage.DeleteOptions{Force: true})
	assert.NilError(t, err)
	back, err := e.store.Pull(e.ctx, newRef, auth, "", nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(back.Image.ID, pulled.Image.ID))
	assert.Check(t, is.DeepEqual(back.Image.Names, []string{newRef}))

	_, err = e.store.Push(e.ctx, dst.ref("push/none:v1"), auth, nil)
	assert.Check(t, errdefs.IsNotFound(err), "push of a missing image: %v", err)
}
