package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Load imports a docker-archive ("docker save": manifest.json) or OCI
// image-layout tar, unpacks every image in it and names it after its
// io.containerd.image.name annotation, else its
// org.opencontainers.image.ref.name when that is a full reference (a bare
// tag such as "latest" names nothing). It returns the normalized names
// loaded and, for images without a name, their IDs ("sha256:…"); those are
// kept as dangling images unless already named. Progress reports
// Extracting and Done for every layer it unpacks.
//
// Errors: ErrInvalidArgument (not an image archive), ErrNotImplemented
// (unsupported image format).
func (s *Store) Load(ctx context.Context, r io.Reader, progress ProgressFunc) ([]string, error) {
	ctx, done, err := s.client.WithLease(ctx)
	if err != nil {
		return nil, err
	}
	defer done(context.WithoutCancel(ctx))
	cs := s.client.ContentStore()
	idx, err := archive.ImportIndex(ctx, cs, r)
	if err != nil {
		if ctx.Err() != nil || classified(err) {
			return nil, fmt.Errorf("load: %w", err)
		}
		return nil, fmt.Errorf("load: %w", invalidArgument(err))
	}
	// Tie children to parents for the garbage collector; archives may
	// carry only some platforms of an index.
	label := images.SetChildrenLabels(cs, func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		children, err := images.Children(ctx, cs, d)
		if errdefs.IsNotFound(err) {
			return nil, images.ErrSkipDesc
		}
		return children, err
	})
	if err := images.Walk(ctx, label, idx); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	p, err := content.ReadBlob(ctx, cs, idx)
	if err != nil {
		return nil, err
	}
	var index ocispec.Index
	if err := json.Unmarshal(p, &index); err != nil {
		return nil, fmt.Errorf("load: index.json: %w", invalidArgument(err))
	}
	rep := newReporter(progress)
	type loaded struct {
		name   string
		target ocispec.Descriptor
		mi     *manifestInfo
	}
	var all []loaded
	for _, m := range index.Manifests {
		if _, ok := m.Annotations[images.AnnotationManifestSubject]; ok {
			continue // a referrer (signature, attestation), not an image
		}
		mi, err := s.imageManifest(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", m.Digest, err)
		}
		if err := s.unpack(ctx, mi, rep, s.missingLayers(ctx, mi)); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		target := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		all = append(all, loaded{name: loadName(m.Annotations), target: target, mi: mi})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, l := range all {
		if l.name != "" {
			if _, err := s.retarget(ctx, l.name, l.target); err != nil {
				return out, err
			}
		}
	}
	c, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range all {
		n := l.name
		if n == "" {
			n = l.mi.id().String()
			if e := c.byID[l.mi.id()]; e == nil || len(e.visible()) == 0 {
				if err := s.setDangling(ctx, l.mi.id(), l.target); err != nil {
					return out, err
				}
			}
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// loadName is the image name an archive gives a manifest, normalized, or "".
func loadName(ann map[string]string) string {
	if n := ann[images.AnnotationImageName]; n != "" {
		if ref, err := normalizeRef(n); err == nil {
			return ref.String()
		}
	}
	if n := ann[ocispec.AnnotationRefName]; strings.ContainsAny(n, ":/@") {
		if ref, err := normalizeRef(n); err == nil {
			return ref.String()
		}
	}
	return ""
}
