package storage

import (
	"context"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// History returns the image's history from its config, newest first. Each
// entry that created a layer carries that layer's size (see Image.Size);
// the top entry carries the image ID and names, older ones "<missing>" as
// with dockerd's containerd image store. An image without history gets
// one entry per layer. Errors: ErrNotFound.
func (s *Store) History(ctx context.Context, nameOrID string) ([]HistoryEntry, error) {
	c, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	e, _, err := c.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	mi := e.info
	sizes := s.layerSizes(ctx, mi)
	hist := mi.config.History
	if len(hist) == 0 {
		for range sizes {
			hist = append(hist, ocispec.History{Created: mi.config.Created})
		}
	}
	out := make([]HistoryEntry, 0, len(hist)+1)
	layer := 0
	for _, h := range hist {
		he := HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			he.Created = *h.Created
		}
		if !h.EmptyLayer && layer < len(sizes) {
			he.Size = sizes[layer]
			layer++
		}
		out = append(out, he)
	}
	if len(out) == 0 { // no layers, no history: still the image itself
		he := HistoryEntry{EmptyLayer: true}
		if mi.config.Created != nil {
			he.Created = *mi.config.Created
		}
		out = append(out, he)
	}
	slices.Reverse(out)
	out[0].ID = mi.id().String()
	out[0].Tags = slices.Clone(e.tags)
	return out, nil
}
