package compat

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"

	"github.com/hyperbox/hyperbox/engine"
)

// zeroTime is how dockerd prints an unset time.
const zeroTime = "0001-01-01T00:00:00Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// dockerConfig returns the Docker Config and HostConfig kept with c.
func dockerConfig(c *engine.Container) (*container.Config, *container.HostConfig) {
	cfg := &container.Config{}
	hc := &container.HostConfig{}
	if b, ok := c.Meta[metaConfig]; ok {
		_ = json.Unmarshal(b, cfg)
	}
	if b, ok := c.Meta[metaHostConfig]; ok {
		_ = json.Unmarshal(b, hc)
	}
	if hc.NetworkMode == "" {
		hc.NetworkMode = "default"
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
	if hc.RestartPolicy.Name == "" {
		hc.RestartPolicy.Name = "no"
	}
	return cfg, hc
}

// ContainerInspect answers GET /containers/{id}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error) {
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return nil, containerError(ref, err)
	}
	cfg, hc := dockerConfig(&c)
	path, args := "", []string{}
	if len(c.Spec.Args) > 0 {
		path, args = c.Spec.Args[0], c.Spec.Args[1:]
	}
	st := c.State
	resp := &container.InspectResponse{
		ID:      c.ID,
		Created: fmtTime(c.Created),
		Path:    path,
		Args:    args,
		State: &container.State{
			Status: container.ContainerState(st.Status), Running: st.Running, Paused: st.Paused,
			Restarting: st.Restarting, OOMKilled: st.OOMKilled, Dead: st.Dead, Pid: st.Pid,
			ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: fmtTime(st.StartedAt), FinishedAt: fmtTime(st.FinishedAt),
			Health: healthState(st.Health),
		},
		Image:           c.ImageID,
		ResolvConfPath:  c.ResolvPath,
		HostnamePath:    c.HostnamePath,
		HostsPath:       c.HostsPath,
		LogPath:         c.LogPath,
		Name:            "/" + c.Name,
		RestartCount:    c.RestartCount,
		Driver:          d.store.Snapshotter(),
		Platform:        "linux",
		HostConfig:      hc,
		GraphDriver:     &storage.DriverData{Name: d.store.Snapshotter(), Data: map[string]string{}},
		Mounts:          mountPoints(&c),
		Config:          cfg,
		NetworkSettings: networkSettings(&c, cfg, hc),
		ExecIDs:         d.engine.ExecIDs(c.ID),
	}
	if size {
		rw, root := d.sizes(ctx, &c)
		resp.SizeRw, resp.SizeRootFs = &rw, &root
	}
	return resp, nil
}

// commandLine is the list view's Command: arguments that a shell would
// split are single-quoted, as dockerd shows them ("sh -c 'exit 3'").
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
