package compat

import (
	"context"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
)

// ContainerExecCreate answers POST /containers/{id}/exec.
func (d *Daemon) ContainerExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	cfg := engine.ExecConfig{
		Args: req.Cmd, Env: req.Env, WorkingDir: req.WorkingDir, User: req.User, Tty: req.Tty,
		AttachStdin: req.AttachStdin, AttachStdout: req.AttachStdout, AttachStderr: req.AttachStderr,
		Privileged: req.Privileged, DetachKeys: req.DetachKeys,
	}
	if req.ConsoleSize != nil {
		cfg.ConsoleHeight, cfg.ConsoleWidth = req.ConsoleSize[0], req.ConsoleSize[1]
	}
	id, err := d.engine.ExecCreate(ctx, name, cfg)
	if err != nil {
		return container.ExecCreateResponse{}, containerError(name, err)
	}
	return container.ExecCreateResponse{ID: id}, nil
}

// execError words exec lookups as dockerd does.
func execError(id string, err error) error {
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
	}
	return err
}

// ContainerExecStartCheck validates POST /exec/{id}/start before the hijack.
func (d *Daemon) ContainerExecStartCheck(ctx context.Context, id string) (bool, error) {
	x, err := d.engine.ExecInspect(ctx, id)
	if err != nil {
		return false, execError(id, err)
	}
	if x.Started {
		return false, errdefs.ErrConflict.WithMessage("Error: Exec command " + id + " has already run")
	}
	c, err := d.engine.Get(ctx, x.ContainerID)
	if err != nil || !c.State.Running {
		return false, errdefs.ErrConflict.WithMessage("container " + x.ContainerID + " is not running")
	}
	return x.Config.Tty, nil
}

// ContainerExecStart runs the exec's process.
func (d *Daemon) ContainerExecStart(ctx context.Context, id string, cfg containers.ExecStartConfig) error {
	x, err := d.engine.ExecInspect(ctx, id)
	if err != nil {
		return execError(id, err)
	}
	if cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 {
		_ = d.engine.ExecResize(ctx, id, cfg.ConsoleSize[0], cfg.ConsoleSize[1])
	}
	opts := engine.ExecStartOptions{Detach: cfg.Detach}
	if x.Config.AttachStdin {
		opts.Stdin = cfg.Stdin
	}
	if x.Config.AttachStdout {
		opts.Stdout = cfg.Stdout
	}
	if x.Config.AttachStderr {
		opts.Stderr = cfg.Stderr
		if x.Config.Tty {
			opts.Stderr = cfg.Stdout
		}
	}
	return execError(id, d.engine.ExecStart(ctx, id, opts))
}

// ContainerExecInspect answers GET /exec/{id}/json.
func (d *Daemon) ContainerExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error) {
	x, err := d.engine.ExecInspect(ctx, id)
	if err != nil {
		return nil, execError(id, err)
	}
	priv := x.Config.Privileged
	resp := &container.ExecInspectResponse{
		ID: x.ID, Running: x.Running, ExitCode: x.ExitCode,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: x.Config.Tty, Entrypoint: x.Config.Args[0], Arguments: x.Config.Args[1:],
			Privileged: &priv, User: x.Config.User,
		},
		OpenStdin: x.Config.AttachStdin, OpenStdout: x.Config.AttachStdout, OpenStderr: x.Config.AttachStderr,
		ContainerID: x.ContainerID, DetachKeys: []byte(x.Config.DetachKeys), Pid: x.Pid,
	}
	if resp.ProcessConfig.Arguments == nil {
		resp.ProcessConfig.Arguments = []string{}
	}
	return resp, nil
}

// ContainerExecResize answers POST /exec/{id}/resize.
func (d *Daemon) ContainerExecResize(ctx context.Context, id string, h, w uint) error {
	return execError(id, d.engine.ExecResize(ctx, id, h, w))
}
