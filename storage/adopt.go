package storage

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// AdoptBuild takes over an image a builder wrote under the containerd
// record `record` (a dangling-style name): it names the image tags, moving
// them from the images they named (which stay dangling when that was their
// last name), or keeps it dangling without tags, then drops record. It
// returns the image ID. Errors: NotFound (no such record),
// InvalidArgument (record is not a dangling-style name, or a bad tag).
func (s *Store) AdoptBuild(ctx context.Context, record string, tags []string) (string, error) {
	if !isDanglingName(record) {
		return "", fmt.Errorf("adopt %q: %w", record, errdefs.ErrInvalidArgument)
	}
	names := make([]string, 0, len(tags))
	for _, t := range tags {
		named, err := normalizeRef(t)
		if err != nil {
			return "", fmt.Errorf("tag %q: %w", t, invalidArgument(err))
		}
		names = append(names, named.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.client.ImageService()
	img, err := is.Get(ctx, record)
	if err != nil {
		return "", fmt.Errorf("adopt %q: %w", record, err)
	}
	mi, err := s.imageManifest(ctx, img.Target)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if _, err := s.retarget(ctx, n, img.Target); err != nil {
			return "", err
		}
	}
	if len(names) == 0 {
		err = s.setDangling(ctx, mi.id(), img.Target)
	} else {
		err = is.Delete(ctx, danglingName(mi.id()))
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return "", err
	}
	if record != danglingName(mi.id()) {
		if err := is.Delete(ctx, record); err != nil && !errdefs.IsNotFound(err) {
			return "", err
		}
	}
	return mi.id().String(), nil
}
