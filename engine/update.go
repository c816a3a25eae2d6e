package engine

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update carries the settings `docker update` changes; nil fields keep
// their value.
type Update struct {
	Memory        *int64
	MemorySwap    *int64
	NanoCPUs      *int64
	CPUShares     *int64
	CPUQuota      *int64
	CPUPeriod     *int64
	CpusetCpus    *string
	PidsLimit     *int64
	RestartPolicy *RestartPolicy
}

// linuxResources are the cgroup limits of a spec.
func linuxResources(s *ContainerSpec) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if s.Memory > 0 {
		m := s.Memory
		r.Memory = &specs.LinuxMemory{Limit: &m}
		if s.MemorySwap != 0 {
			sw := s.MemorySwap
			r.Memory.Swap = &sw
		}
	}
	cpu := &specs.LinuxCPU{}
	switch {
	case s.NanoCPUs > 0:
		period := uint64(100000)
		quota := s.NanoCPUs * int64(period) / 1e9
		cpu.Period, cpu.Quota = &period, &quota
	case s.CPUQuota > 0:
		period := uint64(s.CPUPeriod)
		if period == 0 {
			period = 100000
		}
		quota := s.CPUQuota
		cpu.Period, cpu.Quota = &period, &quota
	}
	if s.CPUShares > 0 {
		sh := uint64(s.CPUShares)
		cpu.Shares = &sh
	}
	cpu.Cpus = s.CpusetCpus
	if cpu.Period != nil || cpu.Shares != nil || cpu.Cpus != "" {
		r.CPU = cpu
	}
	if s.PidsLimit != nil && *s.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: s.PidsLimit}
	}
	return r
}

// withResources sets the spec's memory, CPU and pids limits (keeping the
// device rules the default spec has).
func withResources(s *ContainerSpec) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		if sp.Linux == nil {
			sp.Linux = &specs.Linux{}
		}
		if sp.Linux.Resources == nil {
			sp.Linux.Resources = &specs.LinuxResources{}
		}
		r := linuxResources(s)
		sp.Linux.Resources.Memory, sp.Linux.Resources.CPU, sp.Linux.Resources.Pids = r.Memory, r.CPU, r.Pids
		return nil
	}
}

// UpdateResources changes a container's limits and restart policy, live
// when it runs, and for its next starts. Errors: NotFound, InvalidArgument.
func (e *Engine) UpdateResources(ctx context.Context, ref string, u Update) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.rec.Spec
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.Memory, u.Memory)
	set(&s.MemorySwap, u.MemorySwap)
	set(&s.NanoCPUs, u.NanoCPUs)
	set(&s.CPUShares, u.CPUShares)
	set(&s.CPUQuota, u.CPUQuota)
	set(&s.CPUPeriod, u.CPUPeriod)
	if u.CpusetCpus != nil {
		s.CpusetCpus = *u.CpusetCpus
	}
	if u.PidsLimit != nil {
		p := *u.PidsLimit
		s.PidsLimit = &p
	}
	if u.RestartPolicy != nil {
		if u.RestartPolicy.Name != "no" && u.RestartPolicy.Name != "" && s.AutoRemove {
			return fmt.Errorf("restart policy cannot be updated because AutoRemove is enabled for the container: %w", errdefs.ErrInvalidArgument)
		}
		s.RestartPolicy = *u.RestartPolicy
	}
	if s.Memory > 0 && s.MemorySwap > 0 && s.MemorySwap < s.Memory {
		return fmt.Errorf("Minimum memoryswap limit should be larger than memory limit, see usage: %w", errdefs.ErrInvalidArgument)
	}
	res := linuxResources(&s)
	cc, err := e.opts.Client.LoadContainer(ctx, c.rec.ID)
	if err != nil {
		return err
	}
	sp, err := cc.Spec(ctx)
	if err != nil {
		return err
	}
	if err := cc.Update(ctx, func(ctx context.Context, client *containerd.Client, cr *containers.Container) error {
		// WithSpec stores the spec after applying the resource change.
		return containerd.WithSpec(sp, withResources(&s))(ctx, client, cr)
	}); err != nil {
		return fmt.Errorf("update container spec: %w", err)
	}
	if c.task != nil && c.rec.State.Running {
		if err := c.task.Update(ctx, containerd.WithResources(res)); err != nil {
			return fmt.Errorf("Cannot update container %s: %w", c.rec.ID, err)
		}
	}
	c.rec.Spec = s
	if err := e.save(c); err != nil {
		return err
	}
	e.emit(&c.rec, "update", nil)
	return nil
}
