package storage

import (
	"context"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Prune deletes dangling images, or with all every image, that no
// container uses (inUse may be nil). It returns what it untagged and
// deleted and the bytes reclaimed: the content blobs and layer snapshots
// of those images that are gone afterwards (shared ones are not counted).
func (s *Store) Prune(ctx context.Context, all bool, inUse func(digest.Digest) bool) ([]DeleteResult, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.scan(ctx)
	if err != nil {
		return nil, 0, err
	}
	var (
		res       []DeleteResult
		resources = map[string]int64{}
	)
	for _, id := range c.order {
		e := c.byID[id]
		if len(e.visible()) > 0 && !all || inUse != nil && inUse(id) {
			continue
		}
		for k, v := range s.resources(ctx, e) {
			resources[k] = v
		}
		names := visibleNames(e)
		var records []string
		for _, r := range e.records {
			records = append(records, r.Name)
		}
		if err := s.removeRecords(ctx, records, true); err != nil {
			return res, 0, err
		}
		s.forget(e)
		res = append(res, untagged(names)...)
		res = append(res, DeleteResult{Deleted: id})
	}
	return res, s.reclaimed(ctx, resources), nil
}

// resources lists what an image holds on disk: "content/<digest>" and
// "snapshot/<chain ID>" keys with their sizes.
func (s *Store) resources(ctx context.Context, e *entry) map[string]int64 {
	out := map[string]int64{}
	cs := s.client.ContentStore()
	for _, r := range e.records {
		_ = images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			info, err := cs.Info(ctx, d.Digest)
			if err != nil {
				return nil, images.ErrSkipDesc
			}
			out["content/"+d.Digest.String()] = info.Size
			return images.Children(ctx, cs, d)
		}), r.Target)
	}
	sn := s.client.SnapshotService(s.snapshotter)
	for i, size := range s.layerSizes(ctx, e.info) {
		if _, err := sn.Stat(ctx, e.info.chain[i].String()); err == nil {
			out["snapshot/"+e.info.chain[i].String()] = size
		}
	}
	return out
}

// reclaimed sums the resources that no longer exist.
func (s *Store) reclaimed(ctx context.Context, resources map[string]int64) int64 {
	cs := s.client.ContentStore()
	sn := s.client.SnapshotService(s.snapshotter)
	var total int64
	for k, size := range resources {
		var err error
		if d, ok := strings.CutPrefix(k, "content/"); ok {
			_, err = cs.Info(ctx, digest.Digest(d))
		} else if c, ok := strings.CutPrefix(k, "snapshot/"); ok {
			_, err = sn.Stat(ctx, c)
		}
		if err != nil {
			total += size
		}
	}
	return total
}
