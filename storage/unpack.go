package storage

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// fetchLayers downloads the layers of mi that are not in the content store,
// maxConcurrentTransfers at a time. It reports every layer once (Already
// exists, or Waiting … Downloaded) and returns which layers it downloaded.
func (s *Store) fetchLayers(ctx context.Context, fetcher remotes.Fetcher, name string, mi *manifestInfo, rep *reporter) ([]bool, error) {
	cs := s.client.ContentStore()
	layers := mi.manifest.Layers
	fetch := make([]bool, len(layers))
	seen := map[digest.Digest]bool{}
	for i, l := range layers {
		if seen[l.Digest] {
			continue // a layer repeated in one image is reported once
		}
		seen[l.Digest] = true
		if _, err := cs.Info(ctx, l.Digest); err == nil {
			s.holdContent(ctx, l.Digest)
			rep.layer(l.Digest, ProgressLayerExists)
			continue
		}
		fetch[i] = true
		rep.layer(l.Digest, ProgressLayerWaiting)
	}
	source, err := docker.AppendDistributionSourceLabel(cs, name)
	if err != nil {
		return nil, invalidArgument(err)
	}
	pf := progressFetcher{Fetcher: fetcher, rep: rep}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentTransfers)
	for i, l := range layers {
		if !fetch[i] {
			continue
		}
		g.Go(func() error {
			if err := remotes.Fetch(gctx, cs, pf, l); err != nil && !errdefs.IsAlreadyExists(err) {
				return registryError(name, err)
			}
			rep.layer(l.Digest, ProgressLayerDownloaded)
			_, _ = source(gctx, l) // only helps cross-repository mounts on push
			return nil
		})
	}
	return fetch, g.Wait()
}

// unpack applies the layers of mi into the store's snapshotter, one after
// the other, reporting Extracting and Done for the layers report selects.
// Layers already unpacked are skipped. The snapshot is then tied to the
// image config for containerd's garbage collector. The caller holds a lease.
func (s *Store) unpack(ctx context.Context, mi *manifestInfo, rep *reporter, report func(i int) bool) error {
	sn := s.client.SnapshotService(s.snapshotter)
	cs := s.client.ContentStore()
	diffIDs := mi.config.RootFS.DiffIDs
	for i, l := range mi.manifest.Layers {
		layer := rootfs.Layer{
			Blob: l,
			Diff: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffIDs[i]},
		}
		show := report(i)
		if show {
			rep.layer(l.Digest, ProgressLayerExtracting)
		}
		applied, err := rootfs.ApplyLayerWithOpts(ctx, layer, diffIDs[:i], sn, s.client.DiffService(), nil, nil)
		if err != nil {
			return fmt.Errorf("unpack layer %s into %s: %w", l.Digest, s.snapshotter, err)
		}
		if applied {
			info := content.Info{Digest: l.Digest, Labels: map[string]string{labels.LabelUncompressed: diffIDs[i].String()}}
			_, _ = cs.Update(ctx, info, "labels."+labels.LabelUncompressed)
		}
		if show {
			rep.layer(l.Digest, ProgressLayerDone)
		}
	}
	if len(mi.chain) == 0 {
		return nil
	}
	key := "containerd.io/gc.ref.snapshot." + s.snapshotter
	info := content.Info{Digest: mi.manifest.Config.Digest, Labels: map[string]string{key: mi.chainID().String()}}
	if _, err := cs.Update(ctx, info, "labels."+key); err != nil {
		return fmt.Errorf("label config %s: %w", mi.manifest.Config.Digest, err)
	}
	return nil
}

// missingLayers reports the layers whose snapshot does not exist yet:
// those an unpack will actually extract.
func (s *Store) missingLayers(ctx context.Context, mi *manifestInfo) func(int) bool {
	sn := s.client.SnapshotService(s.snapshotter)
	missing := make([]bool, len(mi.chain))
	for i, c := range mi.chain {
		_, err := sn.Stat(ctx, c.String())
		missing[i] = err != nil
	}
	return func(i int) bool { return missing[i] }
}

// holdContent adds an existing blob to the lease in ctx, so that deleting
// another image while this one is being pulled cannot collect it.
func (s *Store) holdContent(ctx context.Context, d digest.Digest) {
	id, ok := leases.FromContext(ctx)
	if !ok {
		return
	}
	_ = s.client.LeasesService().AddResource(ctx, leases.Lease{ID: id}, leases.Resource{ID: d.String(), Type: "content"})
}
