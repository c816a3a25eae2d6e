package compat

import (
	"context"
	"encoding/json"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/storage"
)

// Meta keys compat keeps with each engine container.
const (
	metaConfig     = "docker.config"
	metaHostConfig = "docker.hostconfig"
)

// defaultPath is set when neither the image nor the request sets PATH.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ContainerCreate answers POST /containers/create.
func (d *Daemon) ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error) {
	cfg := req.Config
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if cfg.Image == "" {
		return container.CreateResponse{}, invalid("config cannot be empty in order to create a container")
	}
	if err := validateHostConfig(hc); err != nil {
		return container.CreateResponse{}, err
	}
	d.defaultLogConfig(hc)
	img, err := d.store.Get(ctx, lookupName(cfg.Image))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return container.CreateResponse{}, imageNotFound(displayRef(cfg.Image))
		}
		return container.CreateResponse{}, err
	}
	merged := mergeImageConfig(cfg, &img)
	spec, err := engineSpec(name, merged, hc, img.ID.String())
	if err != nil {
		return container.CreateResponse{}, err
	}
	// Volumes, binds and tmpfs mounts (containers_mounts.go).
	if spec.Mounts, err = d.containerMounts(ctx, merged, hc); err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.networkSpec(&spec, merged, hc, req.NetworkingConfig); err != nil {
		return container.CreateResponse{}, err
	}
	hcJSON, _ := json.Marshal(hc)
	rec, warnings, err := d.engine.CreateFrom(ctx, img, spec, func(id string) map[string][]byte {
		shown := *merged
		if shown.Hostname == "" {
			// dockerd shows the generated hostname (the short ID) in Config.
			shown.Hostname = id[:12]
		}
		cfgJSON, _ := json.Marshal(&shown)
		return map[string][]byte{metaConfig: cfgJSON, metaHostConfig: hcJSON}
	})
	if err != nil {
		return container.CreateResponse{}, containerError(name, err)
	}
	return container.CreateResponse{ID: rec.ID, Warnings: nonNil(warnings)}, nil
}

// displayRef is how dockerd names an image in "No such image" (tagged).
func displayRef(s string) string {
	if isIDLike(s) {
		return s
	}
	named, err := normalizeRef(s)
	if err != nil {
		return s
	}
	return familiar(named.String())
}

// validateHostConfig refuses what dockerd refuses and what hyperbox does
// not support yet (naming the field, never silently ignoring it).
func validateHostConfig(hc *container.HostConfig) error {
	if hc.Memory > 0 && hc.Memory < 6*1024*1024 {
		return invalid("Minimum memory limit allowed is 6MB")
	}
	if err := validateCPUs(hc.Resources); err != nil {
		return err
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no" {
		return invalid("can't create 'AutoRemove' container with restart policy")
	}
	if hc.PidsLimit != nil && *hc.PidsLimit < -1 {
		return invalid("invalid PidsLimit %d", *hc.PidsLimit)
	}
	// Mounts are checked here, Binds and VolumesFrom with the image
	// (containers_mounts.go), in dockerd's order.
	if err := validateMounts(hc); err != nil {
		return err
	}
	switch {
	case len(hc.Devices) > 0:
		return notImplemented("HostConfig.Devices")
	}
	if err := validateRestartPolicy(hc.RestartPolicy); err != nil {
		return err
	}
	if hc.Runtime != "" && hc.Runtime != "crun" && hc.Runtime != "runc" {
		return invalid("Unknown runtime specified %s", hc.Runtime)
	}
	return nil
}

// mergeImageConfig applies the image's defaults to the request the way
// dockerd does: Env merged by key (request wins), Cmd/Entrypoint from the
// image unless overridden (a new Entrypoint drops the image's Cmd).
func mergeImageConfig(req *container.Config, img *storage.Image) *container.Config {
	out := *req
	ic := img.Config.Config
	if out.User == "" {
		out.User = ic.User
	}
	if out.WorkingDir == "" {
		out.WorkingDir = ic.WorkingDir
	}
	if out.StopSignal == "" {
		out.StopSignal = ic.StopSignal
	}
	out.Env = mergeEnv(ic.Env, req.Env)
	if len(out.Entrypoint) == 0 && req.Entrypoint == nil {
		out.Entrypoint = ic.Entrypoint
		if len(out.Cmd) == 0 {
			out.Cmd = ic.Cmd
		}
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range req.Labels {
			labels[k] = v
		}
		out.Labels = labels
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Healthcheck == nil && img.Config.Config.Healthcheck != nil {
		h := img.Config.Config.Healthcheck
		out.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if len(ic.Volumes) > 0 {
		// The image's VOLUMEs and the request's (-v /path), as dockerd merges them.
		vols := maps.Clone(req.Volumes)
		if vols == nil {
			vols = map[string]struct{}{}
		}
		maps.Copy(vols, ic.Volumes)
		out.Volumes = vols
	}
	if len(out.OnBuild) == 0 {
		out.OnBuild = img.Config.Config.OnBuild
	}
	return &out
}

func mergeEnv(image, req []string) []string {
	out := slices.Clone(image)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range req {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	if _, ok := idx["PATH"]; !ok {
		out = append([]string{defaultPath}, out...)
	}
	return out
}

// engineSpec converts a merged Docker config into the engine's spec.
func engineSpec(name string, cfg *container.Config, hc *container.HostConfig, imageID string) (engine.ContainerSpec, error) {
	args := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(args) == 0 {
		return engine.ContainerSpec{}, invalid("no command specified")
	}
	if cfg.StopSignal != "" {
		if _, err := engine.ParseSignal(cfg.StopSignal); err != nil {
			return engine.ContainerSpec{}, invalid("Invalid signal: %s", cfg.StopSignal)
		}
	}
	netMode := string(hc.NetworkMode)
	if netMode != "host" && netMode != "none" {
		netMode = ""
	}
	s := engine.ContainerSpec{
		Name: name, Image: imageID, ImageName: cfg.Image, Args: args, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User,
		Hostname: cfg.Hostname, Domainname: cfg.Domainname, Labels: cfg.Labels,
		Tty: cfg.Tty, OpenStdin: cfg.OpenStdin, StdinOnce: cfg.StdinOnce,
		StopSignal: cfg.StopSignal, StopTimeout: cfg.StopTimeout,
		Memory: hc.Memory, MemorySwap: hc.MemorySwap, NanoCPUs: hc.NanoCPUs, CPUShares: hc.CPUShares,
		CPUQuota: hc.CPUQuota, CPUPeriod: hc.CPUPeriod, CpusetCpus: hc.CpusetCpus, PidsLimit: hc.PidsLimit,
		Privileged: hc.Privileged, CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, ReadonlyRootfs: hc.ReadonlyRootfs,
		ExtraHosts: hc.ExtraHosts, DNSSearch: hc.DNSSearch, DNSOptions: hc.DNSOptions,
		AutoRemove: hc.AutoRemove, Runtime: hc.Runtime, NetworkMode: netMode,
		ShmSize: hc.ShmSize, Tmpfs: hc.Tmpfs, Sysctls: hc.Sysctls, GroupAdd: hc.GroupAdd,
		ConsoleHeight: hc.ConsoleSize[0], ConsoleWidth: hc.ConsoleSize[1],
	}
	s.Init = hc.Init != nil && *hc.Init
	s.RestartPolicy = engine.RestartPolicy{Name: string(hc.RestartPolicy.Name), MaxRetries: hc.RestartPolicy.MaximumRetryCount}
	hcheck, err := healthcheck(cfg.Healthcheck)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	s.Healthcheck = hcheck
	for _, a := range hc.DNS {
		s.DNS = append(s.DNS, a.String())
	}
	for _, h := range hc.ExtraHosts {
		if _, _, ok := strings.Cut(h, ":"); !ok {
			return engine.ContainerSpec{}, invalid("invalid argument %q for \"--add-host\" flag: invalid IP address in add-host: %q", h, "")
		}
	}
	if err := applyLogConfig(&s, hc.LogConfig); err != nil {
		return engine.ContainerSpec{}, err
	}
	return s, nil
}

// applyLogConfig accepts the json-file driver (the default) with its
// max-size and max-file options.
func applyLogConfig(s *engine.ContainerSpec, lc container.LogConfig) error {
	switch lc.Type {
	case "", "json-file", "local":
	case "none":
		return notImplemented("HostConfig.LogConfig.Type none")
	default:
		return notImplemented("HostConfig.LogConfig.Type " + lc.Type)
	}
	size, files, err := parseLogOpts(lc.Config)
	if err != nil {
		return err
	}
	s.LogMaxSize, s.LogMaxFiles = size, files
	return nil
}

// validateCPUs makes dockerd's CPU checks, in its order and wording.
func validateCPUs(r container.Resources) error {
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if n := runtime.NumCPU(); r.NanoCPUs < 0 || r.NanoCPUs > int64(n)*1e9 {
		return invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	return nil
}

// defaultLogConfig fills LogConfig as dockerd does at create: the default
// driver, and the daemon's log-opts when the container sets none.
func (d *Daemon) defaultLogConfig(hc *container.HostConfig) {
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
		if len(hc.LogConfig.Config) == 0 && len(d.cfg.LogOpts) > 0 {
			hc.LogConfig.Config = maps.Clone(d.cfg.LogOpts)
		}
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
}
