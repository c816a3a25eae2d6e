package builder

import (
	"context"

	"github.com/moby/buildkit/client"
	"golang.org/x/sync/errgroup"
)

// DiskUsage lists the build cache records (all of them without filters;
// filters are BuildKit's: "id==…", "type==…", "inuse", …).
func (b *Builder) DiskUsage(ctx context.Context, filters ...string) ([]*client.UsageInfo, error) {
	return b.worker.DiskUsage(ctx, client.DiskUsageInfo{Filter: filters})
}

// Prune removes build cache records as opt selects and returns them.
func (b *Builder) Prune(ctx context.Context, opt client.PruneInfo) ([]client.UsageInfo, error) {
	ch := make(chan client.UsageInfo)
	var pruned []client.UsageInfo
	var eg errgroup.Group
	eg.Go(func() error {
		for u := range ch {
			pruned = append(pruned, u)
		}
		return nil
	})
	err := b.worker.Prune(ctx, ch, opt)
	close(ch)
	_ = eg.Wait()
	if err != nil {
		return pruned, err
	}
	// Content only the pruned records held goes with them.
	return pruned, b.worker.GarbageCollect(ctx)
}
