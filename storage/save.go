package storage

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save writes the images namesOrIDs designate (see Get) to w as one tar:
// an OCI image layout (oci-layout, index.json, blobs) plus Docker's
// manifest.json, which "docker load" and OCI tools both read. Each image is
// saved as its platform manifest. An image given by name carries that name
// (RepoTags in manifest.json, io.containerd.image.name and
// org.opencontainers.image.ref.name in index.json); one given by ID
// carries none, as with dockerd. Errors: ErrNotFound.
func (s *Store) Save(ctx context.Context, w io.Writer, namesOrIDs []string) error {
	c, err := s.scan(ctx)
	if err != nil {
		return err
	}
	type saved struct {
		manifest ocispec.Descriptor
		names    []string
	}
	var (
		order []digest.Digest
		byID  = map[digest.Digest]*saved{}
	)
	for _, n := range namesOrIDs {
		e, m, err := c.lookup(n)
		if err != nil {
			return err
		}
		sv := byID[e.id()]
		if sv == nil {
			md := e.info.desc
			if md.Platform == nil {
				p := e.info.config.Platform
				md.Platform = &p
			}
			sv = &saved{manifest: ocispec.Descriptor{MediaType: md.MediaType, Digest: md.Digest, Size: md.Size, Platform: md.Platform}}
			byID[e.id()] = sv
			order = append(order, e.id())
		}
		for _, name := range m.names {
			if refKind(name) == 't' && !slices.Contains(sv.names, name) {
				sv.names = append(sv.names, name)
			}
		}
	}
	opts := []archive.ExportOpt{}
	for _, id := range order {
		sv := byID[id]
		opts = append(opts, archive.WithManifest(sv.manifest, sv.names...))
	}
	if err := archive.Export(ctx, s.client.ContentStore(), w, opts...); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}
