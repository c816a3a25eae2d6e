package compat

import (
	"context"

	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
)

// ContainerPause answers POST /containers/{id}/pause.
func (d *Daemon) ContainerPause(ctx context.Context, ref string) error {
	return containerError(ref, d.engine.Pause(ctx, ref))
}

// ContainerUnpause answers POST /containers/{id}/unpause.
func (d *Daemon) ContainerUnpause(ctx context.Context, ref string) error {
	return containerError(ref, d.engine.Unpause(ctx, ref))
}

// ContainerUpdate answers POST /containers/{id}/update. Zero fields mean
// "unchanged", as in dockerd.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, cfg *container.UpdateConfig) (container.UpdateResponse, error) {
	r := cfg.Resources
	if r.Memory > 0 && r.Memory < 6*1024*1024 {
		return container.UpdateResponse{}, invalid("Minimum memory limit allowed is 6MB")
	}
	if err := validateCPUs(r); err != nil {
		return container.UpdateResponse{}, err
	}
	nz := func(v int64) *int64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	u := engine.Update{
		Memory: nz(r.Memory), MemorySwap: nz(r.MemorySwap), NanoCPUs: nz(r.NanoCPUs), CPUShares: nz(r.CPUShares),
		CPUQuota: nz(r.CPUQuota), CPUPeriod: nz(r.CPUPeriod),
	}
	if r.CpusetCpus != "" {
		u.CpusetCpus = &r.CpusetCpus
	}
	if r.PidsLimit != nil && *r.PidsLimit != 0 {
		u.PidsLimit = r.PidsLimit
	}
	if cfg.RestartPolicy.Name != "" {
		if err := validateRestartPolicy(cfg.RestartPolicy); err != nil {
			return container.UpdateResponse{}, err
		}
		u.RestartPolicy = &engine.RestartPolicy{Name: string(cfg.RestartPolicy.Name), MaxRetries: cfg.RestartPolicy.MaximumRetryCount}
	}
	if err := d.engine.UpdateResources(ctx, ref, u); err != nil {
		return container.UpdateResponse{}, containerError(ref, err)
	}
	// Keep the HostConfig shown by inspect in step.
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return container.UpdateResponse{}, containerError(ref, err)
	}
	_, hc := dockerConfig(&c)
	s := c.Spec
	hc.Memory, hc.MemorySwap, hc.NanoCPUs, hc.CPUShares = s.Memory, s.MemorySwap, s.NanoCPUs, s.CPUShares
	hc.CPUQuota, hc.CPUPeriod, hc.CpusetCpus, hc.PidsLimit = s.CPUQuota, s.CPUPeriod, s.CpusetCpus, s.PidsLimit
	hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(s.RestartPolicy.Name), MaximumRetryCount: s.RestartPolicy.MaxRetries}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = "no"
	}
	if err := d.engine.SetMeta(ctx, c.ID, metaHostConfig, hc); err != nil {
		return container.UpdateResponse{}, err
	}
	return container.UpdateResponse{Warnings: []string{}}, nil
}
