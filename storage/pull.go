package storage

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	refspec "github.com/containerd/containerd/v2/pkg/reference"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pull fetches ref (a normalized reference with tag or digest) for one
// platform ("" = the store's), stores it, names it ref and unpacks it into
// the snapshotter. Progress comes in Docker's order: ProgressResolved, then
// per layer (ID = 12 hex of the compressed digest) ProgressLayerExists, or
// Waiting, Downloading…, Downloaded, Extracting, Done. If ref named another
// image that keeps no other name, that image stays as a dangling image.
//
// It blocks until the image is unpacked. Errors: ErrInvalidArgument (bad
// ref or platform), ErrNotFound (unknown repository, tag or platform, with
// the registry's message), ErrUnauthenticated (401; errdefs.IsUnauthorized) and ErrPermissionDenied
// (403), ErrUnavailable (registry unreachable or failing), ErrNotImplemented
// (schema 1 and other unsupported formats).
func (s *Store) Pull(ctx context.Context, ref string, auth *Auth, platform string, progress ProgressFunc) (PullResult, error) {
	named, err := normalizeRef(ref)
	if err != nil {
		return PullResult{}, fmt.Errorf("pull %q: %w", ref, invalidArgument(err))
	}
	name := named.String()
	m, err := s.platformMatcher(platform)
	if err != nil {
		return PullResult{}, err
	}
	rep := newReporter(progress)
	resolver := s.resolver(ctx, auth)
	_, desc, err := resolver.Resolve(ctx, name)
	if err != nil {
		return PullResult{}, s.resolveError(ctx, auth, named, err)
	}
	rep.send(Progress{Action: ProgressResolved, Message: objectOf(named)})

	ctx, done, err := s.client.WithLease(ctx)
	if err != nil {
		return PullResult{}, err
	}
	defer done(context.WithoutCancel(ctx))

	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return PullResult{}, registryError(name, err)
	}
	mi, err := s.fetchManifest(ctx, fetcher, name, desc, m)
	if err != nil {
		return PullResult{}, err
	}
	fetched, err := s.fetchLayers(ctx, fetcher, name, mi, rep)
	if err != nil {
		return PullResult{}, err
	}
	if err := s.unpack(ctx, mi, rep, func(i int) bool { return fetched[i] }); err != nil {
		return PullResult{}, err
	}

	s.mu.Lock()
	updated, err := s.retarget(ctx, name, desc)
	s.mu.Unlock()
	if err != nil {
		return PullResult{}, err
	}
	// The image of the platform pulled (ref may name an index whose
	// store-platform manifest is also present).
	img, err := s.Get(ctx, mi.id().String())
	if errdefs.IsNotFound(err) {
		img, err = s.Get(ctx, name)
	}
	if err != nil {
		return PullResult{}, err
	}
	return PullResult{Image: img, Updated: updated, Digest: desc.Digest}, nil
}

// platformMatcher parses a platform ("" = the store's platform).
func (s *Store) platformMatcher(platform string) (platforms.MatchComparer, error) {
	if platform == "" {
		return s.matcher, nil
	}
	p, err := platforms.Parse(platform)
	if err != nil {
		return nil, fmt.Errorf("invalid platform %q: %w", platform, errdefs.ErrInvalidArgument)
	}
	return platforms.Only(platforms.Normalize(p)), nil
}

// objectOf is the tag or digest of a reference.
func objectOf(ref reference.Named) string {
	if d, ok := ref.(reference.Digested); ok {
		return d.Digest().String()
	}
	if t, ok := ref.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// fetchManifest fetches the index (if any), the one platform manifest m
// selects and its config, labelling them for garbage collection and with
// their source repository. Layers are left to fetchLayers.
func (s *Store) fetchManifest(ctx context.Context, fetcher remotes.Fetcher, name string, desc ocispec.Descriptor, m platforms.MatchComparer) (*manifestInfo, error) {
	cs := s.client.ContentStore()
	if desc.MediaType == images.MediaTypeDockerSchema1Manifest {
		return nil, fmt.Errorf("%s: schema 1 images are not supported: %w", name, errdefs.ErrNotImplemented)
	}
	source, err := docker.AppendDistributionSourceLabel(cs, name)
	if err != nil {
		return nil, invalidArgument(err)
	}
	skipLayers := images.HandlerFunc(func(_ context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsLayerType(d.MediaType) {
			return nil, images.ErrStopHandler
		}
		return nil, nil
	})
	children := images.LimitManifests(images.FilterPlatforms(images.SetChildrenLabels(cs, images.ChildrenHandler(cs)), m), m, 1)
	h := images.Handlers(skipLayers, remotes.FetchHandler(cs, fetcher), children, source)
	if err := images.Dispatch(ctx, h, nil, desc); err != nil {
		return nil, registryError(name, err)
	}
	md, err := s.platformManifest(ctx, desc, m, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s.readManifest(ctx, md)
}

// resolveError explains a failed Resolve. containerd's resolver turns a
// 404 into a bare NotFound; ask the registry for its message.
func (s *Store) resolveError(ctx context.Context, auth *Auth, ref reference.Named, err error) error {
	if !errdefs.IsNotFound(err) {
		err = registryError(ref.String(), err)
		if errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err) {
			// As dockerd: a private and a missing repository look the same.
			return fmt.Errorf("pull access denied, repository does not exist or may require authorization: %w", err)
		}
		return err
	}
	msg := "manifest unknown"
	hosts, herr := s.registryHosts(ctx, auth)(reference.Domain(ref))
	if herr == nil && len(hosts) > 0 {
		path := "/v2/" + reference.Path(ref) + "/manifests/" + objectOf(ref)
		sctx := ctx
		if spec, perr := refspec.Parse(ref.String()); perr == nil {
			if c, cerr := docker.ContextWithRepositoryScope(ctx, spec, false); cerr == nil {
				sctx = c
			}
		}
		if resp, gerr := authorizedGet(sctx, hosts[0], path); gerr == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if m := registryMessage(body); m != "" {
				msg = m
			}
		}
	}
	return fmt.Errorf("%s: %s: %w", ref.String(), msg, errdefs.ErrNotFound)
}
