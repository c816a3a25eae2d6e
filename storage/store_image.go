package storage

import (
	"context"
	"strconv"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// storeImage writes a new single-platform image (its config and a manifest
// holding layers), unpacks it and names it (or keeps it dangling when name
// is empty). Import and Commit build images this way.
func (s *Store) storeImage(ctx context.Context, config any, layers []ocispec.Descriptor, name string) (Image, error) {
	configDesc, err := s.writeJSON(ctx, ocispec.MediaTypeImageConfig, config, nil)
	if err != nil {
		return Image{}, err
	}
	gcLabels := map[string]string{"containerd.io/gc.ref.content.config": configDesc.Digest.String()}
	for i, l := range layers {
		gcLabels["containerd.io/gc.ref.content.l."+strconv.Itoa(i)] = l.Digest.String()
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	}
	target, err := s.writeJSON(ctx, ocispec.MediaTypeImageManifest, manifest, gcLabels)
	if err != nil {
		return Image{}, err
	}
	mi, err := s.readManifest(ctx, target)
	if err != nil {
		return Image{}, err
	}
	if err := s.unpack(ctx, mi, nil, func(int) bool { return false }); err != nil {
		return Image{}, err
	}
	s.mu.Lock()
	if name != "" {
		_, err = s.retarget(ctx, name, target)
	} else {
		err = s.setDangling(ctx, mi.id(), target)
	}
	s.mu.Unlock()
	if err != nil {
		return Image{}, err
	}
	return s.Get(ctx, mi.id().String())
}
