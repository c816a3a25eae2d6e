package compat

import (
	"context"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/moby/api/types/volume"

	"github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/server/middleware"
)

var volumePruneFilters = map[string]bool{"label": true, "label!": true, "all": true}

// volumePruneRunning makes volume prunes exclusive, as dockerd does.
var volumePruneRunning atomic.Bool

// VolumePrune answers POST /volumes/prune: it removes the local volumes no
// container uses, that have no driver options, that have every `label`
// and not every `label!`. From API 1.42 only anonymous volumes go unless
// the filter all=true is given; older API versions prune named ones too
// (dockerd 20.10 always did). A "prune" event with the bytes freed
// follows the volumes' "destroy" events.
func (d *Daemon) VolumePrune(ctx context.Context, f map[string]map[string]bool, apiVersion string) (*volume.PruneReport, error) {
	for k := range f {
		if !volumePruneFilters[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	all, err := pruneAll(f["all"])
	if err != nil {
		return nil, err
	}
	if apiVersion != "" && middleware.CompareVersions(apiVersion, "1.42") < 0 {
		all = true
	}
	labels := map[string]bool{}
	for l := range f["label"] {
		labels[l] = true
	}
	if !all {
		labels[anonymousVolumeLabel] = true
	}
	if !volumePruneRunning.CompareAndSwap(false, true) {
		return nil, errdefs.ErrConflict.WithMessage("a prune operation is already running")
	}
	defer volumePruneRunning.Store(false)

	rep := &volume.PruneReport{VolumesDeleted: []string{}}
	for _, v := range d.engine.Volumes(ctx) {
		if ctx.Err() != nil {
			break // the client left: report what was done
		}
		if len(d.engine.VolumeUsers(v.Name)) > 0 || len(v.Options) > 0 || !matchLabels(labels, v.Labels) {
			continue
		}
		if len(f["label!"]) > 0 && matchLabels(f["label!"], v.Labels) {
			continue
		}
		size, err := d.engine.VolumeSize(ctx, v.Name)
		if err != nil {
			log.G(ctx).WithError(err).WithField("volume", v.Name).Warn("prune: volume size")
		}
		if err := d.engine.VolumeRemove(ctx, v.Name); err != nil {
			log.G(ctx).WithError(err).WithField("volume", v.Name).Warn("prune: remove volume")
			continue
		}
		rep.SpaceReclaimed += uint64(max(size, 0))
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
	}
	d.engine.Events().Publish(events.Event{Type: "volume", Action: "prune",
		Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}})
	return rep, nil
}

// pruneAll reads the prune filter all (one boolean), with dockerd's wording.
func pruneAll(values map[string]bool) (bool, error) {
	var vals []string
	for v, ok := range values {
		if ok {
			vals = append(vals, v)
		}
	}
	switch len(vals) {
	case 0:
		return false, nil
	case 1:
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			return false, invalid("invalid filter 'all': %v", err)
		}
		return b, nil
	}
	sort.Strings(vals)
	return false, invalid("invalid filter 'all=%v': only one value is expected", vals)
}

// volumeDiskUsage is the Volumes part of GET /system/df: every volume
// without driver options (those are other filesystems, as dockerd leaves
// them out) with its size and the number of containers using it.
func (d *Daemon) volumeDiskUsage(ctx context.Context) *volume.DiskUsage {
	du := &volume.DiskUsage{Items: []volume.Volume{}}
	for _, v := range d.engine.Volumes(ctx) {
		if len(v.Options) > 0 {
			continue
		}
		item := apiVolume(v)
		size, err := d.engine.VolumeSize(ctx, v.Name)
		if err != nil {
			size = -1
		}
		refs := int64(len(d.engine.VolumeUsers(v.Name)))
		item.UsageData = &volume.UsageData{Size: size, RefCount: refs}
		if size >= 0 {
			du.TotalSize += size
			if refs == 0 {
				du.Reclaimable += size
			}
		}
		if refs > 0 {
			du.ActiveCount++
		}
		du.Items = append(du.Items, item)
	}
	du.TotalCount = int64(len(du.Items))
	return du
}
