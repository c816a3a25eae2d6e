package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestInfo is what one platform manifest and its config say. Content is
// immutable, so it is cached by manifest digest.
type manifestInfo struct {
	desc     ocispec.Descriptor
	manifest ocispec.Manifest
	config   dockerspec.DockerOCIImage
	// chain[i] is the chain ID of layers[0..i].
	chain []digest.Digest
}

// id is the image ID: the config digest.
func (m *manifestInfo) id() digest.Digest { return m.manifest.Config.Digest }

// chainID identifies the snapshot of the whole root filesystem.
func (m *manifestInfo) chainID() digest.Digest {
	if len(m.chain) == 0 {
		return ""
	}
	return m.chain[len(m.chain)-1]
}

// platformManifest picks the platform manifest of target that is present
// in the content store, preferring platforms m matches (best first). When
// strict is false and nothing matching is present, any present manifest
// will do (an image pulled for another platform is still an image).
func (s *Store) platformManifest(ctx context.Context, target ocispec.Descriptor, m platforms.MatchComparer, strict bool) (ocispec.Descriptor, error) {
	cs := s.client.ContentStore()
	if images.IsManifestType(target.MediaType) {
		return target, nil
	}
	if !images.IsIndexType(target.MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: unsupported media type %q: %w", target.Digest, target.MediaType, errdefs.ErrNotImplemented)
	}
	idx, err := s.readIndex(ctx, target)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var matching, others []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if !images.IsManifestType(d.MediaType) && !images.IsIndexType(d.MediaType) {
			continue
		}
		if _, ok := d.Annotations["vnd.docker.reference.type"]; ok { // attestations
			continue
		}
		if d.Platform == nil || m.Match(*d.Platform) {
			matching = append(matching, d)
		} else if d.Platform.OS != "unknown" {
			others = append(others, d)
		}
	}
	sort.SliceStable(matching, func(i, j int) bool {
		if matching[i].Platform == nil || matching[j].Platform == nil {
			return matching[j].Platform == nil && matching[i].Platform != nil
		}
		return m.Less(*matching[i].Platform, *matching[j].Platform)
	})
	candidates := matching
	if !strict {
		candidates = append(candidates, others...)
	}
	for _, d := range candidates {
		if images.IsIndexType(d.MediaType) {
			if md, err := s.platformManifest(ctx, d, m, strict); err == nil {
				return md, nil
			}
			continue
		}
		if _, err := cs.Info(ctx, d.Digest); err == nil {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no manifest for platform %s in %s: %w", platforms.FormatAll(s.platform), target.Digest, errdefs.ErrNotFound)
}

// readIndex reads (or recalls) an image index.
func (s *Store) readIndex(ctx context.Context, desc ocispec.Descriptor) (*ocispec.Index, error) {
	if v, ok := s.indexes.Load(desc.Digest); ok {
		return v.(*ocispec.Index), nil
	}
	p, err := content.ReadBlob(ctx, s.client.ContentStore(), desc)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(p, &idx); err != nil {
		return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	s.indexes.Store(desc.Digest, &idx)
	return &idx, nil
}

// readManifest reads (or recalls) a platform manifest and its config.
func (s *Store) readManifest(ctx context.Context, desc ocispec.Descriptor) (*manifestInfo, error) {
	if v, ok := s.manifests.Load(desc.Digest); ok {
		return v.(*manifestInfo), nil
	}
	cs := s.client.ContentStore()
	p, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return nil, err
	}
	mi := &manifestInfo{desc: desc}
	if err := json.Unmarshal(p, &mi.manifest); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if !images.IsConfigType(mi.manifest.Config.MediaType) {
		return nil, fmt.Errorf("manifest %s: config media type %q is not an image config: %w",
			desc.Digest, mi.manifest.Config.MediaType, errdefs.ErrNotImplemented)
	}
	p, err = content.ReadBlob(ctx, cs, mi.manifest.Config)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(p, &mi.config); err != nil {
		return nil, fmt.Errorf("config %s: %w", mi.manifest.Config.Digest, err)
	}
	diffIDs := mi.config.RootFS.DiffIDs
	if len(diffIDs) != len(mi.manifest.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers but its config %d diff IDs: %w",
			desc.Digest, len(mi.manifest.Layers), len(diffIDs), errdefs.ErrInvalidArgument)
	}
	for i := range diffIDs {
		mi.chain = append(mi.chain, identity.ChainID(diffIDs[:i+1]))
	}
	s.manifests.Store(desc.Digest, mi)
	return mi, nil
}

// imageManifest resolves an image record's target to its platform manifest.
func (s *Store) imageManifest(ctx context.Context, target ocispec.Descriptor) (*manifestInfo, error) {
	md, err := s.platformManifest(ctx, target, s.matcher, false)
	if err != nil {
		return nil, err
	}
	return s.readManifest(ctx, md)
}

// layerSizes returns the unpacked size of every layer: the usage of its
// snapshot when the image is unpacked, else the size of the (usually
// compressed) blob, which is the best estimate without unpacking.
func (s *Store) layerSizes(ctx context.Context, mi *manifestInfo) []int64 {
	sn := s.client.SnapshotService(s.snapshotter)
	sizes := make([]int64, len(mi.chain))
	for i, chainID := range mi.chain {
		key := s.snapshotter + "/" + chainID.String()
		if v, ok := s.usage.Load(key); ok {
			sizes[i] = v.(int64)
			continue
		}
		u, err := sn.Usage(ctx, chainID.String())
		if err != nil {
			sizes[i] = mi.manifest.Layers[i].Size
			continue
		}
		sizes[i] = u.Size
		s.usage.Store(key, u.Size)
	}
	return sizes
}
