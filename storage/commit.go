package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitConfig is what Commit puts into the new image besides its layer.
type CommitConfig struct {
	// Config is the new image's runtime configuration (it replaces the
	// base image's).
	Config dockerspec.DockerOCIImageConfig
	// Author goes into the config and the new history entry; empty keeps
	// the base image's author.
	Author string
	// Comment and CreatedBy describe the new history entry.
	Comment   string
	CreatedBy string
}

// Commit makes an image from the image baseID (see Get) and one more
// layer, as `docker commit` does: layer is the layer blob, already in the
// content store and held by the caller's lease (see Client.WithLease), and
// diffID the digest of its uncompressed tar. A nil layer (nothing changed)
// adds no layer, only a history entry marked empty. The config keeps the
// base's platform and history, gets cc and a new creation time. The image
// is unpacked, and named ref (a tag reference) when ref is non-empty,
// dangling otherwise. Errors: NotFound (base), InvalidArgument (ref).
func (s *Store) Commit(ctx context.Context, baseID string, layer *ocispec.Descriptor, diffID digest.Digest, cc CommitConfig, ref string) (Image, error) {
	name := ""
	if ref != "" {
		named, err := normalizeRef(ref)
		if err != nil {
			return Image{}, fmt.Errorf("commit %q: %w", ref, invalidArgument(err))
		}
		if _, ok := named.(reference.Digested); ok {
			return Image{}, fmt.Errorf("commit %q: %w", ref, invalidArgument(fmt.Errorf("cannot commit to a digest reference")))
		}
		name = named.String()
	}
	ctx, done, err := s.client.WithLease(ctx)
	if err != nil {
		return Image{}, err
	}
	defer done(context.WithoutCancel(ctx))

	base, err := s.Get(ctx, baseID)
	if err != nil {
		return Image{}, err
	}
	bmi, err := s.readManifest(ctx, base.Manifest)
	if err != nil {
		return Image{}, err
	}
	config := commitConfig(bmi.config, s.platform, layer != nil, diffID, cc)
	layers := slices.Clone(bmi.manifest.Layers)
	if layer != nil {
		layers = append(layers, *layer)
	}
	return s.storeImage(ctx, config, layers, name)
}

// commitConfig derives the committed image's config from its base's.
func commitConfig(base dockerspec.DockerOCIImage, platform ocispec.Platform, hasLayer bool, diffID digest.Digest, cc CommitConfig) dockerspec.DockerOCIImage {
	now := time.Now().UTC()
	author := cc.Author
	if author == "" {
		author = base.Author
	}
	p := base.Platform
	if p.OS == "" || p.Architecture == "" {
		p = platform
	}
	diffIDs := slices.Clone(base.RootFS.DiffIDs)
	if hasLayer {
		diffIDs = append(diffIDs, diffID)
	}
	history := append(slices.Clone(base.History), ocispec.History{
		Created:    &now,
		CreatedBy:  cc.CreatedBy,
		Author:     author,
		Comment:    cc.Comment,
		EmptyLayer: !hasLayer,
	})
	return dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &now,
			Author:   author,
			Platform: p,
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
			History:  history,
		},
		Config: cc.Config,
	}
}
