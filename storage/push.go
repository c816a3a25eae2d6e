package storage

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"
)

// Push uploads the local image named ref (a normalized tag reference) to
// the registry ref names. A multi-platform index is pushed whole when all
// its content is local, else only the store's platform manifest. Progress
// per layer: Preparing, then Uploading(Current, Total)… and Pushed, or
// LayerExists when the registry has the blob already.
//
// Errors: ErrNotFound (no local image of that name), ErrInvalidArgument,
// ErrUnauthenticated (401), ErrPermissionDenied (403), ErrUnavailable.
func (s *Store) Push(ctx context.Context, ref string, auth *Auth, progress ProgressFunc) (PushResult, error) {
	named, err := normalizeRef(ref)
	if err != nil {
		return PushResult{}, fmt.Errorf("push %q: %w", ref, invalidArgument(err))
	}
	name := named.String()
	rec, err := s.client.ImageService().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return PushResult{}, notFound(name)
	} else if err != nil {
		return PushResult{}, err
	}
	desc, matcher, err := s.pushTarget(ctx, rec.Target)
	if err != nil {
		return PushResult{}, err
	}
	rep := newReporter(progress)
	layers, err := s.layersOf(ctx, desc, matcher)
	if err != nil {
		return PushResult{}, err
	}
	for _, l := range layers {
		rep.layer(l.Digest, ProgressLayerPreparing)
	}
	pusher, err := s.resolver(ctx, auth).Pusher(ctx, name)
	if err != nil {
		return PushResult{}, registryError(name, err)
	}
	cs := s.client.ContentStore()
	err = remotes.PushContent(ctx, meteredPusher(pusher, rep), desc, cs,
		semaphore.NewWeighted(maxConcurrentTransfers), matcher, nil)
	if err != nil {
		return PushResult{}, registryError(name, err)
	}
	// Record where the content now lives: RepoDigests, and cross-repository
	// mounts on later pushes.
	if source, err := docker.AppendDistributionSourceLabel(cs, name); err == nil {
		for _, d := range append([]ocispec.Descriptor{desc}, layers...) {
			_, _ = source(ctx, d)
		}
	}
	tag := ""
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return PushResult{Tag: tag, Digest: desc.Digest, Size: desc.Size}, nil
}

// pushTarget chooses what to push for a record target: the target if all
// its content is local, else its platform manifest.
func (s *Store) pushTarget(ctx context.Context, target ocispec.Descriptor) (ocispec.Descriptor, platforms.MatchComparer, error) {
	if images.IsIndexType(target.MediaType) {
		ok, _, _, missing, err := images.Check(ctx, s.client.ContentStore(), target, platforms.All)
		if err == nil && ok && len(missing) == 0 {
			return target, platforms.All, nil
		}
	}
	md, err := s.platformManifest(ctx, target, s.matcher, false)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return md, platforms.All, nil
}

// layersOf lists the distinct layers under desc, in manifest order.
func (s *Store) layersOf(ctx context.Context, desc ocispec.Descriptor, m platforms.MatchComparer) ([]ocispec.Descriptor, error) {
	cs := s.client.ContentStore()
	var layers []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	h := images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsLayerType(d.MediaType) {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				layers = append(layers, d)
			}
			return nil, nil
		}
		return images.Children(ctx, cs, d)
	})
	if err := images.Walk(ctx, images.FilterPlatforms(h, m), desc); err != nil {
		return nil, err
	}
	return layers, nil
}

// meteredPusher reports the progress of layer uploads.
func meteredPusher(p remotes.Pusher, rep *reporter) remotes.Pusher {
	return remotes.PusherFunc(func(ctx context.Context, d ocispec.Descriptor) (content.Writer, error) {
		w, err := p.Push(ctx, d)
		if !images.IsLayerType(d.MediaType) {
			return w, err
		}
		if errdefs.IsAlreadyExists(err) {
			rep.layer(d.Digest, ProgressLayerExists)
		}
		if err != nil {
			return nil, err
		}
		m := &meter{rep: rep, id: shortID(d.Digest), action: ProgressLayerUploading, total: d.Size}
		return &meteredWriter{Writer: w, m: m, onCommit: func() { rep.layer(d.Digest, ProgressLayerPushed) }}, nil
	})
}
