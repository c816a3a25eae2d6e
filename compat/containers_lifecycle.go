package compat

import (
	"context"
	"errors"

	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
)

// ContainerStart answers POST /containers/{id}/start (304 when running).
func (d *Daemon) ContainerStart(ctx context.Context, ref string) error {
	return containerError(ref, d.engine.Start(ctx, ref))
}

// ContainerStop answers POST /containers/{id}/stop (304 when stopped).
func (d *Daemon) ContainerStop(ctx context.Context, ref, sig string, timeout *int) error {
	if sig != "" {
		if _, err := engine.ParseSignal(sig); err != nil {
			return invalid("Invalid signal: %s", sig)
		}
	}
	return containerError(ref, d.engine.Stop(ctx, ref, sig, timeout))
}

// ContainerRestart answers POST /containers/{id}/restart.
func (d *Daemon) ContainerRestart(ctx context.Context, ref, sig string, timeout *int) error {
	return containerError(ref, d.engine.Restart(ctx, ref, sig, timeout))
}

// ContainerKill answers POST /containers/{id}/kill; a stopped container is
// a 409 "container X is not running".
func (d *Daemon) ContainerKill(ctx context.Context, ref, sig string) error {
	if sig != "" {
		if _, err := engine.ParseSignal(sig); err != nil {
			return invalid("Invalid signal: %s", sig)
		}
	}
	if err := d.engine.Kill(ctx, ref, sig); err != nil {
		err = containerError(ref, err)
		// Current dockerd prefixes kill failures with the reference.
		return wrapMessage(err, "cannot kill container: "+ref+": ")
	}
	return nil
}

// ContainerWait answers POST /containers/{id}/wait.
func (d *Daemon) ContainerWait(ctx context.Context, ref, condition string) (<-chan container.WaitResponse, error) {
	ch, err := d.engine.Wait(ctx, ref, engine.WaitCondition(condition))
	if err != nil {
		return nil, containerError(ref, err)
	}
	out := make(chan container.WaitResponse, 1)
	go func() {
		defer close(out)
		st, ok := <-ch
		if !ok {
			return
		}
		resp := container.WaitResponse{StatusCode: int64(st.ExitCode)}
		if st.Error != "" {
			resp.Error = &container.WaitExitError{Message: st.Error}
		}
		out <- resp
	}()
	return out, nil
}

// ContainerRemove answers DELETE /containers/{id}.
func (d *Daemon) ContainerRemove(ctx context.Context, ref string, force, volumes, link bool) error {
	if link {
		return notImplemented("link removal (legacy links)")
	}
	return containerError(ref, d.engine.Remove(ctx, ref, engine.RemoveOptions{Force: force, RemoveVolumes: volumes}))
}

// ContainerResize answers POST /containers/{id}/resize.
func (d *Daemon) ContainerResize(ctx context.Context, ref string, h, w uint) error {
	return containerError(ref, d.engine.Resize(ctx, ref, h, w))
}

// ContainerRename answers POST /containers/{id}/rename.
func (d *Daemon) ContainerRename(ctx context.Context, ref, name string) error {
	err := d.engine.Rename(ref, name)
	var nc *engine.NameConflictError
	if errors.As(err, &nc) {
		return wrapMessage(containerError(ref, err), "Error when allocating new name: ")
	}
	return containerError(ref, err)
}
