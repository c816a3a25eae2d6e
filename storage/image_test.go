package storage_test

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

// pullNew pushes a random image as ref and pulls it.
func pullNew(t *testing.T, e *env, reg *testRegistry, ref string, layers int64) storage.Image {
	t.Helper()
	reg.push(t, ref, randomImage(t, layers, ""))
	res, err := e.store.Pull(e.ctx, ref, nil, "", nil)
	assert.NilError(t, err)
	return res.Image
}

func inUse(ids ...digest.Digest) func(digest.Digest) bool {
	return func(id digest.Digest) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
}

func TestTagAndDelete(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	a1, a2, b1 := reg.ref("a:1"), reg.ref("a:2"), reg.ref("b:1")
	img := pullNew(t, e, reg, a1, 2)
	id := img.ID
	assert.NilError(t, e.store.Tag(e.ctx, a1, a2))
	assert.NilError(t, e.store.Tag(e.ctx, id.Encoded()[:10], b1))

	list, err := e.store.List(e.ctx)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(list, 1))
	assert.Check(t, is.DeepEqual(list[0].Names, []string{a1, a2, b1}))

	steps := []struct {
		name      string
		nameOrID  string
		opts      storage.DeleteOptions
		want      []storage.DeleteResult
		wantClass func(error) bool
	}{
		{name: "by id across repositories", nameOrID: id.String(), wantClass: errdefs.IsConflict},
		{name: "one of several names", nameOrID: b1, want: []storage.DeleteResult{{Untagged: b1}}},
		{name: "another name", nameOrID: a1, opts: storage.DeleteOptions{InUse: inUse(id)}, want: []storage.DeleteResult{{Untagged: a1}}},
		{name: "last name in use", nameOrID: a2, opts: storage.DeleteOptions{InUse: inUse(id)}, wantClass: errdefs.IsConflict},
		{name: "last name in use forced", nameOrID: a2, opts: storage.DeleteOptions{Force: true, InUse: inUse(id)}, want: []storage.DeleteResult{{Untagged: a2}}},
		{name: "dangling in use by id", nameOrID: id.String(), opts: storage.DeleteOptions{InUse: inUse(id)}, wantClass: errdefs.IsConflict},
		{name: "unknown", nameOrID: reg.ref("nope:1"), wantClass: errdefs.IsNotFound},
		{name: "dangling by id", nameOrID: id.Encoded()[:12], want: []storage.DeleteResult{{Deleted: id}}},
	}
	for _, st := range steps {
		res, err := e.store.Delete(e.ctx, st.nameOrID, st.opts)
		if st.wantClass != nil {
			assert.Check(t, st.wantClass(err), "%s: wrong class: %v", st.name, err)
			continue
		}
		assert.NilError(t, err, st.name)
		assert.Check(t, is.DeepEqual(res, st.want), st.name)
		if st.name == "last name in use forced" {
			got, err := e.store.Get(e.ctx, id.String())
			assert.NilError(t, err)
			assert.Check(t, got.Dangling)
			assert.Check(t, is.Len(got.Names, 0))
			cname := e.store.ContainerdName(got)
			assert.Check(t, strings.HasPrefix(cname, "hyperbox-dangling@"), cname)
			_, err = e.client.GetImage(e.ctx, cname)
			assert.NilError(t, err)
		}
	}
	list, err = e.store.List(e.ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 0))
	// containerd's GC reclaimed content and snapshot.
	_, err = e.client.ContentStore().Info(e.ctx, id)
	assert.Check(t, errdefs.IsNotFound(err), "config: %v", err)
	_, err = e.client.SnapshotService(e.store.Snapshotter()).Stat(e.ctx, img.ChainID.String())
	assert.Check(t, errdefs.IsNotFound(err), "snapshot: %v", err)
}

func TestDeleteByIDSingleRepository(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	img := pullNew(t, e, reg, reg.ref("one:1"), 1)
	assert.NilError(t, e.store.Tag(e.ctx, reg.ref("one:1"), reg.ref("one:2")))
	// As dockerd: two tags need force, even in one repository.
	_, err := e.store.Delete(e.ctx, img.ID.String(), storage.DeleteOptions{})
	assert.Check(t, errdefs.IsConflict(err), "got %v", err)
	res, err := e.store.Delete(e.ctx, img.ID.String(), storage.DeleteOptions{Force: true})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res, []storage.DeleteResult{
		{Untagged: reg.ref("one:1")}, {Untagged: reg.ref("one:2")}, {Deleted: img.ID},
	}))
}

func TestTagMovesName(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	x, y := reg.ref("x:1"), reg.ref("y:1")
	imgA := pullNew(t, e, reg, x, 1)
	imgB := pullNew(t, e, reg, y, 1)

	assert.NilError(t, e.store.Tag(e.ctx, y, x))
	got, err := e.store.Get(e.ctx, x)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, imgB.ID))
	assert.Check(t, is.DeepEqual(got.Names, []string{x, y}))
	old, err := e.store.Get(e.ctx, imgA.ID.String())
	assert.NilError(t, err)
	assert.Check(t, old.Dangling)

	// Naming the dangling image again drops its dangling record.
	z := reg.ref("z") // normalized to :latest
	assert.NilError(t, e.store.Tag(e.ctx, imgA.ID.String(), z))
	old, err = e.store.Get(e.ctx, imgA.ID.String())
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(old.Names, []string{z + ":latest"}))
	assert.Check(t, !old.Dangling)
	_, err = e.client.ImageService().Get(e.ctx, "hyperbox-dangling@"+imgA.ID.String())
	assert.Check(t, errdefs.IsNotFound(err), "dangling record left: %v", err)

	err = e.store.Tag(e.ctx, imgA.ID.String(), reg.ref("x@")+imgA.ID.String())
	assert.Check(t, errdefs.IsInvalidArgument(err), "tag with digest: %v", err)
	err = e.store.Tag(e.ctx, reg.ref("nope:1"), reg.ref("q:1"))
	assert.Check(t, errdefs.IsNotFound(err), "tag of missing image: %v", err)
}

func TestGet(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	img := pullNew(t, e, reg, reg.ref("get/app:v1"), 1)
	other := pullNew(t, e, reg, reg.ref("get/other:v1"), 1)
	hex := img.ID.Encoded()
	n := 1 // shortest prefix that tells the two IDs apart
	for hex[:n] == other.ID.Encoded()[:n] {
		n++
	}
	tests := []struct {
		name     string
		nameOrID string
		found    bool
	}{
		{name: "full name", nameOrID: reg.ref("get/app:v1"), found: true},
		{name: "name without tag", nameOrID: reg.ref("get/app"), found: false},
		{name: "repo digest", nameOrID: img.RepoDigests[0], found: true},
		{name: "full id", nameOrID: img.ID.String(), found: true},
		{name: "bare hex id", nameOrID: hex, found: true},
		{name: "short id", nameOrID: hex[:12], found: true},
		{name: "unambiguous prefix", nameOrID: hex[:n], found: true},
		{name: "prefixed short id", nameOrID: "sha256:" + hex[:12], found: true},
		{name: "unknown id", nameOrID: strings.Repeat("0", 64), found: false},
		{name: "unknown name", nameOrID: reg.ref("get/app:v2"), found: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.store.Get(e.ctx, tc.nameOrID)
			if !tc.found {
				assert.Check(t, errdefs.IsNotFound(err), "got %v", err)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got.ID, img.ID))
		})
	}
}

func TestListMergesNames(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	img := randomImage(t, 1, "")
	r1, r2 := reg.ref("m/one:v1"), reg.ref("m/two:v1")
	reg.push(t, r1, img)
	reg.push(t, r2, img)
	for _, r := range []string{r1, r2} {
		_, err := e.store.Pull(e.ctx, r, nil, "", nil)
		assert.NilError(t, err)
	}
	list, err := e.store.List(e.ctx)
	assert.NilError(t, err)
	assert.Assert(t, is.Len(list, 1))
	assert.Check(t, is.DeepEqual(list[0].Names, []string{r1, r2}))
	d := imageDigest(t, img)
	assert.Check(t, is.DeepEqual(list[0].RepoDigests, []string{reg.ref("m/one@") + d, reg.ref("m/two@") + d}))
}
