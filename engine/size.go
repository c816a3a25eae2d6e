package engine

import (
	"context"
	"fmt"
)

// Size returns the bytes a container has written to its writable layer
// (what Docker shows as SizeRw). Errors: NotFound.
func (e *Engine) Size(ctx context.Context, ref string) (int64, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	id := c.rec.ID
	c.mu.Unlock()
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	u, err := sn.Usage(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("snapshot usage of %s: %w", id, err)
	}
	return u.Size, nil
}
