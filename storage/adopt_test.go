package storage_test

import (
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestAdoptBuild: an image a builder left under a temporary dangling-style
// record gets its tags (moved off the image they named, which stays
// dangling) or stays dangling without tags; the record goes away.
func TestAdoptBuild(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	old := pullNew(t, e, reg, reg.ref("app:1"), 1)
	built := pullNew(t, e, reg, reg.ref("built:tmp"), 1)
	is2 := e.client.ImageService()
	rec, err := is2.Get(e.ctx, reg.ref("built:tmp"))
	assert.NilError(t, err)
	tmp := "hyperbox-dangling@" + rec.Target.Digest.String()
	_, err = is2.Create(e.ctx, images.Image{Name: tmp, Target: rec.Target})
	assert.NilError(t, err)
	assert.NilError(t, is2.Delete(e.ctx, reg.ref("built:tmp")))

	id, err := e.store.AdoptBuild(e.ctx, tmp, []string{reg.ref("app:1"), reg.ref("app:2")})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(id, built.ID.String()))
	got, err := e.store.Get(e.ctx, reg.ref("app:1"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, built.ID))
	assert.Check(t, is.Contains(got.Names, reg.ref("app:2")))
	_, err = is2.Get(e.ctx, tmp)
	assert.Check(t, errdefs.IsNotFound(err), "temporary record kept: %v", err)
	// The image that lost app:1 is kept, dangling.
	prev, err := e.store.Get(e.ctx, old.ID.String())
	assert.NilError(t, err)
	assert.Check(t, prev.Dangling)

	// Without tags the image stays, dangling.
	_, err = is2.Create(e.ctx, images.Image{Name: tmp, Target: rec.Target})
	assert.NilError(t, err)
	assert.NilError(t, is2.Delete(e.ctx, reg.ref("app:1")))
	assert.NilError(t, is2.Delete(e.ctx, reg.ref("app:2")))
	id, err = e.store.AdoptBuild(e.ctx, tmp, nil)
	assert.NilError(t, err)
	got, err = e.store.Get(e.ctx, id)
	assert.NilError(t, err)
	assert.Check(t, got.Dangling)

	_, err = e.store.AdoptBuild(e.ctx, "docker.io/library/x:1", nil)
	assert.Check(t, errdefs.IsInvalidArgument(err))
	_, err = e.store.AdoptBuild(e.ctx, tmp+"0", nil)
	assert.Check(t, errdefs.IsNotFound(err))
}
