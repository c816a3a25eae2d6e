package compat

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine/events"
)

var containerPruneFilters = map[string]bool{"label": true, "label!": true, "until": true}

// pruneRunning makes container prunes exclusive, as dockerd does (one
// daemon per process, so a package variable is enough).
var pruneRunning atomic.Bool

// ContainerPrune answers POST /containers/prune: it removes every stopped
// container created before `until` that has all `label` filters and not
// all `label!` filters, through the normal removal (destroy events), and
// reports the IDs and the writable-layer bytes freed. A "prune" event with
// the reclaimed bytes follows, as from dockerd.
func (d *Daemon) ContainerPrune(ctx context.Context, f map[string]map[string]bool) (*container.PruneReport, error) {
	for k := range f {
		if !containerPruneFilters[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	until, err := pruneUntil(f["until"], time.Now())
	if err != nil {
		return nil, err
	}
	if !pruneRunning.CompareAndSwap(false, true) {
		return nil, errdefs.ErrConflict.WithMessage("a prune operation is already running")
	}
	defer pruneRunning.Store(false)

	rep := &container.PruneReport{}
	for _, c := range d.engine.List(ctx) {
		if ctx.Err() != nil {
			break // the client left: report what was done, as dockerd
		}
		if c.State.Running || c.State.Restarting || c.State.Paused || (!until.IsZero() && c.Created.After(until)) {
			continue
		}
		if !matchLabels(f["label"], c.Spec.Labels) {
			continue
		}
		// As dockerd (MatchKVList), label! spares a container only when it
		// matches every label! filter.
		if len(f["label!"]) > 0 && matchLabels(f["label!"], c.Spec.Labels) {
			continue
		}
		size, err := d.engine.Size(ctx, c.ID)
		if err != nil {
			log.G(ctx).WithError(err).WithField("container", c.ID).Debug("prune: layer size")
		}
		if err := d.ContainerRemove(ctx, c.ID, false, false, false); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.ID).Warn("prune: remove")
			continue
		}
		if size > 0 {
			rep.SpaceReclaimed += uint64(size)
		}
		rep.ContainersDeleted = append(rep.ContainersDeleted, c.ID)
	}
	d.engine.Events().Publish(events.Event{Type: "container", Action: "prune",
		Attributes: map[string]string{"reclaimed": strconv.FormatUint(rep.SpaceReclaimed, 10)}})
	return rep, nil
}

// pruneUntil reads the `until` filter: a Go duration before now ("10m",
// "24h"), a Unix timestamp with optional fraction, or an RFC 3339 date
// or time (zone optional: local time), as dockerd's timestamp parser.
func pruneUntil(values map[string]bool, now time.Time) (time.Time, error) {
	if len(values) == 0 {
		return time.Time{}, nil
	}
	if len(values) > 1 {
		return time.Time{}, invalid("more than one until filter specified")
	}
	var v string
	for k := range values {
		v = k
	}
	t, ok := parseTimeOrDuration(v, now)
	if !ok {
		return time.Time{}, invalid("failed to parse value as time or duration: %q", v)
	}
	return t, nil
}

// Layouts of dockerd's time filters: with a zone, or in local time.
var (
	zonedLayouts = []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15Z07:00", "2006-01-02Z07:00"}
	localLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02"}
)

func parseTimeOrDuration(v string, now time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if d, err := time.ParseDuration(v); err == nil && v != "0" {
		return now.Add(-d).UTC(), true
	}
	if strings.Contains(v, "-") {
		for _, l := range zonedLayouts {
			if t, err := time.Parse(l, v); err == nil {
				return t.UTC(), true
			}
		}
		for _, l := range localLayouts {
			if t, err := time.ParseInLocation(l, v, time.Local); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil || ns < 0 {
			return time.Time{}, false
		}
	}
	return time.Unix(s, ns).UTC(), true
}
