package compat

import (
	"context"
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
	"github.com/hyperbox/hyperbox/storage"
)

// ContainerCommit answers POST /commit: a new image from the container's
// changes, its config the container's (or the one sent) with the changes
// applied and the container's filling the gaps, as dockerd builds it.
func (d *Daemon) ContainerCommit(ctx context.Context, opts containers.CommitOptions) (string, error) {
	ref, err := commitRef(opts.Repo, opts.Tag)
	if err != nil {
		return "", err
	}
	c, err := d.engine.Get(ctx, opts.Container)
	if err != nil {
		return "", containerError(opts.Container, err)
	}
	ctrCfg, _ := dockerConfig(&c)
	base := ctrCfg
	if opts.Config != nil {
		base = opts.Config
	}
	cfg, err := applyCommitChanges(base, opts.Changes)
	if err != nil {
		return "", err
	}
	mergeCommitConfig(cfg, ctrCfg)
	imageRef := ""
	if ref != "" {
		imageRef = familiar(ref)
	}
	img, err := d.engine.Commit(ctx, c.ID, engine.CommitOptions{
		Pause: opts.Pause,
		Ref:   ref,
		Image: storage.CommitConfig{
			Config:    imageConfig(cfg),
			Author:    opts.Author,
			Comment:   opts.Comment,
			CreatedBy: strings.Join(ctrCfg.Cmd, " "),
		},
		EventAttributes: map[string]string{"comment": opts.Comment, "imageRef": imageRef},
	})
	if err != nil {
		return "", containerError(opts.Container, err)
	}
	if ref != "" {
		d.imageEvent("tag", img.ID.String(), imageRef, img.Config.Config.Labels)
	}
	return img.ID.String(), nil
}

// commitRef is the normalized tag reference repo[:tag] names ("" when
// repo is empty), refused as dockerd refuses it.
func commitRef(repo, tag string) (string, error) {
	if repo == "" {
		return "", nil
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", invalid("%s", err.Error())
	}
	if _, ok := named.(reference.Digested); ok {
		return "", invalid("cannot import digest reference")
	}
	if tag != "" {
		if named, err = reference.WithTag(named, tag); err != nil {
			return "", invalid("%s", err.Error())
		}
	}
	return reference.TagNameOnly(named).String(), nil
}

// commitCommands are the instructions `docker commit --change` accepts.
var commitCommands = map[string]bool{
	"CMD": true, "ENTRYPOINT": true, "ENV": true, "EXPOSE": true, "LABEL": true, "ONBUILD": true,
	"STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true, "HEALTHCHECK": true,
}

// applyCommitChanges applies Dockerfile instructions to a copy of base as
// a build would: CMD and ENTRYPOINT replace (an ENTRYPOINT without a CMD
// in the same changes clears CMD), ENV and LABEL merge by key, EXPOSE and
// VOLUME add, a relative WORKDIR is joined to the current one, ONBUILD
// appends, HEALTHCHECK replaces.
func applyCommitChanges(base *container.Config, changes []string) (*container.Config, error) {
	out := *base
	out.Env = slices.Clone(base.Env)
	out.Labels = maps.Clone(base.Labels)
	out.ExposedPorts = maps.Clone(base.ExposedPorts)
	out.Volumes = maps.Clone(base.Volumes)
	out.OnBuild = slices.Clone(base.OnBuild)
	var rest []string
	for _, ch := range changes {
		ch = strings.TrimSpace(ch)
		instr, arg, _ := strings.Cut(ch, " ")
		switch {
		case ch == "":
		case !commitCommands[strings.ToUpper(instr)]:
			// dockerd names the instruction as its parser does: lower case.
			return nil, invalid("%s is not a valid change command", strings.ToLower(instr))
		case strings.EqualFold(instr, "ONBUILD"):
			out.OnBuild = append(out.OnBuild, strings.TrimSpace(arg))
		case strings.EqualFold(instr, "VOLUME"):
			// (parseChanges reads a plain list as a shell command.)
			if out.Volumes == nil {
				out.Volumes = map[string]struct{}{}
			}
			for _, v := range parseList(strings.TrimSpace(arg)) {
				out.Volumes[v] = struct{}{}
			}
		case strings.EqualFold(instr, "HEALTHCHECK"):
			hc, err := parseHealthcheck(strings.TrimSpace(arg))
			if err != nil {
				return nil, err
			}
			out.Healthcheck = hc
		default:
			rest = append(rest, ch)
		}
	}
	delta, err := parseChanges(rest)
	if err != nil {
		return nil, err
	}
	if delta.Entrypoint != nil {
		out.Entrypoint = delta.Entrypoint
		if delta.Cmd == nil {
			out.Cmd = nil
		}
	}
	if delta.Cmd != nil {
		out.Cmd = delta.Cmd
	}
	out.Env = mergeEnvKeys(out.Env, delta.Env)
	for k, v := range delta.Labels {
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = v
	}
	for p := range delta.ExposedPorts {
		port, err := network.ParsePort(p)
		if err != nil {
			return nil, invalid("invalid port %s: %v", p, err)
		}
		if out.ExposedPorts == nil {
			out.ExposedPorts = network.PortSet{}
		}
		out.ExposedPorts[port] = struct{}{}
	}
	if wd := delta.WorkingDir; wd != "" {
		if !path.IsAbs(wd) {
			wd = path.Join("/", out.WorkingDir, wd)
		}
		out.WorkingDir = wd
	}
	if delta.User != "" {
		out.User = delta.User
	}
	if delta.StopSignal != "" {
		out.StopSignal = delta.StopSignal
	}
	return &out, nil
}

// parseList reads a JSON array or a whitespace-separated list (VOLUME).
func parseList(s string) []string {
	var list []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &list) == nil {
		return list
	}
	return strings.Fields(s)
}

// parseHealthcheck reads a HEALTHCHECK instruction's arguments:
// "NONE", or options (--interval, --timeout, --start-period,
// --start-interval, --retries) then "CMD" in exec or shell form.
func parseHealthcheck(arg string) (*container.HealthConfig, error) {
	if strings.EqualFold(arg, "NONE") {
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	hc := &container.HealthConfig{}
	for strings.HasPrefix(arg, "--") {
		opt, rest, _ := strings.Cut(arg, " ")
		arg = strings.TrimSpace(rest)
		k, v, _ := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		var err error
		switch k {
		case "interval":
			hc.Interval, err = time.ParseDuration(v)
		case "timeout":
			hc.Timeout, err = time.ParseDuration(v)
		case "start-period":
			hc.StartPeriod, err = time.ParseDuration(v)
		case "start-interval":
			hc.StartInterval, err = time.ParseDuration(v)
		case "retries":
			hc.Retries, err = strconv.Atoi(v)
		default:
			return nil, invalid("Unknown flag: %s", k)
		}
		if err != nil {
			return nil, invalid("invalid value for --%s: %s", k, v)
		}
	}
	typ, cmd, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(typ, "CMD") {
		return nil, invalid("Unknown type %q in HEALTHCHECK (try CMD)", typ)
	}
	cmd = strings.TrimSpace(cmd)
	var exec []string
	if strings.HasPrefix(cmd, "[") && json.Unmarshal([]byte(cmd), &exec) == nil {
		hc.Test = append([]string{"CMD"}, exec...)
	} else {
		hc.Test = []string{"CMD-SHELL", cmd}
	}
	return hc, nil
}

// mergeEnvKeys sets each of add ("K=V") in env, replacing the same key.
func mergeEnvKeys(env, add []string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(env, func(e string) bool { ek, _, _ := strings.Cut(e, "="); return ek == k })
		if i >= 0 {
			env[i] = kv
		} else {
			env = append(env, kv)
		}
	}
	return env
}

// mergeCommitConfig fills what cfg leaves unset from the container's
// config, as dockerd's commit merge does.
func mergeCommitConfig(cfg, ctr *container.Config) {
	if cfg.User == "" {
		cfg.User = ctr.User
	}
	if len(cfg.ExposedPorts) == 0 {
		cfg.ExposedPorts = ctr.ExposedPorts
	} else {
		for p := range ctr.ExposedPorts {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if len(cfg.Env) == 0 {
		cfg.Env = ctr.Env
	} else {
		for _, kv := range ctr.Env {
			k, _, _ := strings.Cut(kv, "=")
			if !slices.ContainsFunc(cfg.Env, func(e string) bool { ek, _, _ := strings.Cut(e, "="); return ek == k }) {
				cfg.Env = append(cfg.Env, kv)
			}
		}
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	for k, v := range ctr.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			cfg.Labels[k] = v
		}
	}
	if len(cfg.Entrypoint) == 0 {
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = ctr.Cmd
		}
		if cfg.Entrypoint == nil {
			cfg.Entrypoint = ctr.Entrypoint
		}
	}
	if cfg.Healthcheck == nil {
		cfg.Healthcheck = ctr.Healthcheck
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ctr.WorkingDir
	}
	if len(cfg.Volumes) == 0 {
		cfg.Volumes = ctr.Volumes
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ctr.StopSignal
	}
}

// imageConfig keeps the image-portable part of a container config.
func imageConfig(c *container.Config) dockerspec.DockerOCIImageConfig {
	out := dockerspec.DockerOCIImageConfig{}
	out.User = c.User
	out.Env = c.Env
	out.Entrypoint = c.Entrypoint
	out.Cmd = c.Cmd
	out.Volumes = c.Volumes
	out.WorkingDir = c.WorkingDir
	out.Labels = c.Labels
	out.StopSignal = c.StopSignal
	out.ArgsEscaped = c.ArgsEscaped //nolint:staticcheck // kept as dockerd keeps it
	out.Healthcheck = c.Healthcheck
	out.OnBuild = c.OnBuild
	out.Shell = c.Shell
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return out
}
