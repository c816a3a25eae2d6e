package storage_test

import (
	"testing"

	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

func TestPull(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	img := randomImage(t, 3, "")
	ref := reg.ref("pull/app:v1")
	reg.push(t, ref, img)

	rec := &recorder{}
	res, err := e.store.Pull(e.ctx, ref, nil, "", rec.fn)
	assert.NilError(t, err)
	assert.Check(t, res.Updated)
	assert.Check(t, is.Equal(res.Digest.String(), imageDigest(t, img)))
	assert.Check(t, is.Equal(rec.events[0].Action, storage.ProgressResolved))
	assert.Check(t, is.Equal(rec.events[0].Message, "v1"))
	fresh := []storage.ProgressAction{storage.ProgressLayerWaiting, storage.ProgressLayerDownloading,
		storage.ProgressLayerDownloaded, storage.ProgressLayerExtracting, storage.ProgressLayerDone}
	byLayer := rec.byLayer()
	for _, id := range layerIDs(t, img) {
		assert.Check(t, is.DeepEqual(byLayer[id], fresh), "layer %s", id)
	}

	got := res.Image
	assert.Check(t, is.Equal(got.ID.String(), imageID(t, img)))
	assert.Check(t, is.DeepEqual(got.Names, []string{ref}))
	assert.Check(t, is.DeepEqual(got.RepoDigests, []string{reg.ref("pull/app@") + imageDigest(t, img)}))
	assert.Check(t, !got.Dangling)
	assert.Check(t, got.Size > 3*2048, "size %d", got.Size)
	assert.Check(t, got.Config.Config.Healthcheck != nil)
	assert.Check(t, is.DeepEqual(got.Config.Config.Shell, []string{"/bin/bash", "-c"}))
	assert.Check(t, is.DeepEqual(got.Config.Config.OnBuild, []string{"RUN true"}))
	_, err = e.client.SnapshotService(e.store.Snapshotter()).Stat(e.ctx, got.ChainID.String())
	assert.NilError(t, err, "unpacked snapshot")
	ci, err := e.client.GetImage(e.ctx, e.store.ContainerdName(got))
	assert.NilError(t, err)
	unpacked, err := ci.IsUnpacked(e.ctx, e.store.Snapshotter())
	assert.NilError(t, err)
	assert.Check(t, unpacked)

	// Again: nothing new.
	rec = &recorder{}
	res, err = e.store.Pull(e.ctx, ref, nil, "", rec.fn)
	assert.NilError(t, err)
	assert.Check(t, !res.Updated)
	for _, id := range layerIDs(t, img) {
		assert.Check(t, is.DeepEqual(rec.byLayer()[id], []storage.ProgressAction{storage.ProgressLayerExists}))
	}

	// The tag moves to a new image: the old one stays, dangling.
	img2 := randomImage(t, 1, "")
	reg.push(t, ref, img2)
	res, err = e.store.Pull(e.ctx, ref, nil, "", nil)
	assert.NilError(t, err)
	assert.Check(t, res.Updated)
	old, err := e.store.Get(e.ctx, got.ID.String())
	assert.NilError(t, err)
	assert.Check(t, old.Dangling)
	assert.Check(t, is.Len(old.Names, 0))
	list, err := e.store.List(e.ctx)
	assert.NilError(t, err)
	assert.Check(t, is.Len(list, 2))
}

func TestPullByDigest(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	img := randomImage(t, 1, "")
	reg.push(t, reg.ref("dig/app:v1"), img)
	ref := reg.ref("dig/app@") + imageDigest(t, img)

	res, err := e.store.Pull(e.ctx, ref, nil, "", nil)
	assert.NilError(t, err)
	assert.Check(t, res.Updated)
	assert.Check(t, is.Len(res.Image.Names, 0))
	assert.Check(t, !res.Image.Dangling)
	assert.Check(t, is.DeepEqual(res.Image.RepoDigests, []string{ref}))

	got, err := e.store.Get(e.ctx, ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, res.Image.ID))
}

func TestPullPlatform(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	amd, arm := randomImage(t, 1, "amd64"), randomImage(t, 1, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	ref := reg.ref("multi/app:v1")
	reg.pushIndex(t, ref, idx)

	res, err := e.store.Pull(e.ctx, ref, nil, "linux/arm64", nil)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(res.Image.Config.Architecture, "arm64"))
	assert.Check(t, is.Equal(res.Image.ID.String(), imageID(t, arm)))
	// Only the requested platform was fetched.
	_, err = e.client.ContentStore().Info(e.ctx, mustDigest(t, imageDigest(t, amd)))
	assert.Check(t, errdefs.IsNotFound(err), "amd64 manifest fetched: %v", err)

	got, err := e.store.Get(e.ctx, ref)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, res.Image.ID))
}

func TestPullErrors(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	reg.push(t, reg.ref("err/app:v1"), randomImage(t, 1, ""))
	authReg := startRegistry(t, withBasicAuth("alice", "secret"))
	authRef := authReg.ref("private/app:v1")
	authReg.push(t, authRef, randomImage(t, 1, ""))

	tests := []struct {
		name    string
		ref     string
		auth    *storage.Auth
		class   func(error) bool
		message string
	}{
		{name: "unknown tag", ref: reg.ref("err/app:nope"), class: errdefs.IsNotFound, message: "manifest unknown"},
		{name: "unknown repository", ref: reg.ref("err/other:v1"), class: errdefs.IsNotFound},
		{name: "no credentials", ref: authRef, class: errdefs.IsUnauthorized},
		{name: "wrong password", ref: authRef, auth: &storage.Auth{Username: "alice", Password: "nope"}, class: errdefs.IsUnauthorized},
		{name: "unreachable", ref: "127.0.0.1:1/x/y:z", class: errdefs.IsUnavailable},
		{name: "bad platform", ref: reg.ref("err/app:v1"), class: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			platform := ""
			if tc.name == "bad platform" {
				platform = "linux/amd64/v3/x/y"
			}
			_, err := e.store.Pull(e.ctx, tc.ref, tc.auth, platform, nil)
			assert.Assert(t, err != nil)
			t.Logf("error: %v", err)
			assert.Check(t, tc.class(err), "wrong class: %v", err)
			if tc.message != "" {
				assert.Check(t, is.ErrorContains(err, tc.message))
			}
		})
	}

	res, err := e.store.Pull(e.ctx, authRef, &storage.Auth{Username: "alice", Password: "secret"}, "", nil)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Image.Names, []string{authRef}))
}
