package compat

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/build"

	buildroutes "github.com/hyperbox/hyperbox/server/routes/build"
)

// BuildCachePrune answers POST /build/prune the way dockerd's BuildKit
// does: filters become BuildKit's prune filters, "until" a keep duration.
func (d *Daemon) BuildCachePrune(ctx context.Context, opts buildroutes.PruneOptions) (*build.CachePruneReport, error) {
	if d.builder == nil {
		return nil, errdefs.ErrNotImplemented.WithMessage("the build cache needs BuildKit, which is disabled on this daemon")
	}
	pi := bkclient.PruneInfo{
		All: opts.All, ReservedSpace: opts.ReservedSpace,
		MaxUsedSpace: opts.MaxUsedSpace, MinFreeSpace: opts.MinFreeSpace,
	}
	var err error
	if pi.Filter, pi.KeepDuration, err = buildKitFilters(opts.Filters, time.Now()); err != nil {
		return nil, err
	}
	pruned, err := d.builder.Prune(ctx, pi)
	if err != nil {
		return nil, err
	}
	rep := &build.CachePruneReport{CachesDeleted: []string{}}
	for _, u := range pruned {
		rep.CachesDeleted = append(rep.CachesDeleted, u.ID)
		rep.SpaceReclaimed += uint64(u.Size)
	}
	return rep, nil
}

// buildKitFilters turns Docker's build-cache filters into BuildKit's.
func buildKitFilters(f map[string]map[string]bool, now time.Time) ([]string, time.Duration, error) {
	var out []string
	var keep time.Duration
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "until" || k == "unused-for" || k == "unusedfor" {
			t, err := pruneUntil(f[k], now)
			if err != nil {
				return nil, 0, err
			}
			keep = now.Sub(t)
			continue
		}
		for v := range f[k] {
			switch k {
			case "id", "parent", "type":
				out = append(out, k+"=="+v)
			case "description":
				out = append(out, k+"~="+v)
			case "inuse", "shared", "private":
				out = append(out, k)
			default:
				return nil, 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s'", k))
			}
		}
	}
	return out, keep, nil
}

// buildCacheUsage is the build cache part of GET /system/df.
func (d *Daemon) buildCacheUsage(ctx context.Context) (*build.DiskUsage, error) {
	u := &build.DiskUsage{}
	if d.builder == nil {
		return u, nil
	}
	recs, err := d.builder.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		u.Items = append(u.Items, build.CacheRecord{
			ID: r.ID, Parents: r.Parents, Type: string(r.RecordType), Description: r.Description,
			InUse: r.InUse, Shared: r.Shared, Size: r.Size, CreatedAt: r.CreatedAt,
			LastUsedAt: r.LastUsedAt, UsageCount: r.UsageCount,
		})
		u.TotalSize += r.Size
		if r.InUse {
			u.ActiveCount++
		} else if !r.Shared {
			u.Reclaimable += r.Size
		}
	}
	u.TotalCount = int64(len(u.Items))
	return u, nil
}
