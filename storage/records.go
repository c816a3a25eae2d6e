package storage

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// retarget points the record name at target, creating it if needed, and
// reports whether anything changed. An image that loses its last name this
// way is kept as a dangling image; an image that gains a name drops its
// dangling record. The caller holds s.mu.
func (s *Store) retarget(ctx context.Context, name string, target ocispec.Descriptor) (bool, error) {
	is := s.client.ImageService()
	old, err := is.Get(ctx, name)
	switch {
	case err == nil && old.Target.Digest == target.Digest:
		return false, nil
	case err == nil:
		c, err := s.scan(ctx)
		if err != nil {
			return false, err
		}
		if e := c.byName[name]; e != nil {
			if err := s.keepDangling(ctx, e, name); err != nil {
				return false, err
			}
		}
		old.Target = target
		if _, err := is.Update(ctx, old, "target"); err != nil {
			return false, fmt.Errorf("update image %q: %w", name, err)
		}
	case errdefs.IsNotFound(err):
		if _, err := is.Create(ctx, images.Image{Name: name, Target: target}); err != nil {
			return false, fmt.Errorf("create image %q: %w", name, err)
		}
	default:
		return false, err
	}
	if mi, err := s.imageManifest(ctx, target); err == nil {
		if err := is.Delete(ctx, danglingName(mi.id())); err != nil && !errdefs.IsNotFound(err) {
			return true, err
		}
	}
	return true, nil
}

// keepDangling makes sure image e survives when the visible records named
// losing go away: if no other record keeps it, it gets a dangling record.
// Call it before removing the names, so the garbage collector never sees
// the image unreferenced.
func (s *Store) keepDangling(ctx context.Context, e *entry, losing ...string) error {
	gone := map[string]bool{}
	for _, n := range losing {
		gone[n] = true
	}
	for _, r := range e.records {
		if !gone[r.Name] {
			return nil
		}
	}
	return s.setDangling(ctx, e.id(), e.records[0].Target)
}

// setDangling creates (or updates) the dangling record of image id.
func (s *Store) setDangling(ctx context.Context, id digest.Digest, target ocispec.Descriptor) error {
	is := s.client.ImageService()
	img := images.Image{Name: danglingPrefix + id.String(), Target: target}
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("keep dangling image %s: %w", id, err)
		}
		if _, err := is.Update(ctx, img, "target"); err != nil {
			return fmt.Errorf("keep dangling image %s: %w", id, err)
		}
	}
	return nil
}

// removeRecords deletes image records by name. With sync, the last
// deletion waits for containerd's garbage collection, so that the content
// and snapshots no longer referenced are gone when it returns.
func (s *Store) removeRecords(ctx context.Context, names []string, sync bool) error {
	is := s.client.ImageService()
	for i, n := range names {
		var opts []images.DeleteOpt
		if sync && i == len(names)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, n, opts...); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete image record %q: %w", n, err)
		}
	}
	return nil
}

// forget drops what the caches hold about a deleted image.
func (s *Store) forget(e *entry) {
	s.manifests.Delete(e.info.desc.Digest)
	for _, r := range e.records {
		s.indexes.Delete(r.Target.Digest)
	}
	for _, c := range e.info.chain {
		s.usage.Delete(s.snapshotter + "/" + c.String())
	}
}
