package compat

import (
	"context"
	"runtime"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
)

// statsInterval is how often dockerd's stats collector samples.
const statsInterval = time.Second

// ContainerStats answers GET /containers/{id}/stats. As dockerd:
//   - stream: a record at once and then every second, each with the
//     previous sample in PreRead/PreCPUStats (empty in the first); a
//     stopped container gives zeroed records; the stream ends when the
//     container is removed;
//   - no stream: two samples a second apart, the first as the Pre* fields
//     (what docker stats --no-stream needs for CPU %), or with one-shot
//     (API 1.41+) one sample at once; a stopped container gives one zeroed
//     record at once.
func (d *Daemon) ContainerStats(ctx context.Context, ref string, opts containers.StatsOptions) (*containers.StatsStream, error) {
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return nil, containerError(ref, err)
	}
	id := c.ID
	run := func(ctx context.Context, emit func(*container.StatsResponse) error) error {
		if opts.Stream {
			return d.streamStats(ctx, id, emit)
		}
		rec, running, err := d.statsRecord(ctx, id)
		if err != nil || !running || opts.OneShot {
			if err != nil {
				return containerError(ref, err)
			}
			return emit(rec)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
		next, _, err := d.statsRecord(ctx, id)
		if err != nil {
			return containerError(ref, err)
		}
		next.PreRead, next.PreCPUStats = rec.Read, rec.CPUStats
		return emit(next)
	}
	return &containers.StatsStream{Run: run}, nil
}

func (d *Daemon) streamStats(ctx context.Context, id string, emit func(*container.StatsResponse) error) error {
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	var prev *container.StatsResponse
	for {
		rec, _, err := d.statsRecord(ctx, id)
		if errdefs.IsNotFound(err) {
			return nil // removed
		}
		if err != nil {
			return err
		}
		if prev != nil {
			rec.PreRead, rec.PreCPUStats = prev.Read, prev.CPUStats
		}
		if err := emit(rec); err != nil {
			return err
		}
		prev = rec
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// statsRecord samples a container. A container that is not running, or
// whose sample fails, gets dockerd's zeroed record (ID, Name, OSType).
// Errors: NotFound when the container is gone.
func (d *Daemon) statsRecord(ctx context.Context, id string) (*container.StatsResponse, bool, error) {
	c, err := d.engine.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	zero := &container.StatsResponse{ID: c.ID, Name: "/" + c.Name, OSType: runtime.GOOS}
	s, err := d.engine.Stats(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
		return nil, false, err
	case errdefs.IsConflict(err):
		return zero, false, nil
	case err != nil:
		log.G(ctx).WithError(err).WithField("id", c.ID).Warn("collecting stats")
		return zero, false, nil
	}
	rec := dockerStats(&s)
	rec.ID, rec.Name, rec.OSType = zero.ID, zero.Name, zero.OSType
	return rec, true, nil
}

// dockerStats converts an engine sample to the record docker stats reads.
func dockerStats(s *engine.Stats) *container.StatsResponse {
	rec := &container.StatsResponse{
		Read: s.Read,
		CPUStats: container.CPUStats{
			CPUUsage: container.CPUUsage{
				TotalUsage:        s.CPU.TotalUsage,
				PercpuUsage:       s.CPU.PercpuUsage,
				UsageInKernelmode: s.CPU.UsageInKernelmode,
				UsageInUsermode:   s.CPU.UsageInUsermode,
			},
			SystemUsage: s.SystemCPUUsage,
			OnlineCPUs:  s.OnlineCPUs,
			ThrottlingData: container.ThrottlingData{
				Periods:          s.CPU.Periods,
				ThrottledPeriods: s.CPU.ThrottledPeriods,
				ThrottledTime:    s.CPU.ThrottledTime,
			},
		},
		MemoryStats: container.MemoryStats{
			Usage:    s.Memory.Usage,
			MaxUsage: s.Memory.MaxUsage,
			Stats:    s.Memory.Stats,
			Failcnt:  s.Memory.Failcnt,
			Limit:    s.Memory.Limit,
		},
		PidsStats: container.PidsStats{Current: s.Pids.Current, Limit: s.Pids.Limit},
		BlkioStats: container.BlkioStats{
			IoServiceBytesRecursive: blkioEntries(s.Blkio.ServiceBytes),
			IoServicedRecursive:     blkioEntries(s.Blkio.Serviced),
			IoQueuedRecursive:       blkioEntries(s.Blkio.Queued),
			IoServiceTimeRecursive:  blkioEntries(s.Blkio.ServiceTime),
			IoWaitTimeRecursive:     blkioEntries(s.Blkio.WaitTime),
			IoMergedRecursive:       blkioEntries(s.Blkio.Merged),
			IoTimeRecursive:         blkioEntries(s.Blkio.Time),
			SectorsRecursive:        blkioEntries(s.Blkio.Sectors),
		},
	}
	if len(s.Networks) > 0 {
		rec.Networks = make(map[string]container.NetworkStats, len(s.Networks))
		for name, n := range s.Networks {
			rec.Networks[name] = container.NetworkStats{
				RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors, RxDropped: n.RxDropped,
				TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped,
			}
		}
	}
	return rec
}

// blkioEntries keeps nil as nil (null in JSON, as dockerd on cgroup v2)
// and an empty list empty.
func blkioEntries(in []engine.BlkioEntry) []container.BlkioStatEntry {
	if in == nil {
		return nil
	}
	out := make([]container.BlkioStatEntry, len(in))
	for i, e := range in {
		out[i] = container.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
	}
	return out
}
