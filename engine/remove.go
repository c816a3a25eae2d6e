package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// RemoveOptions control Remove.
type RemoveOptions struct {
	// Force kills a running container first.
	Force bool
	// RemoveVolumes also removes the container's anonymous volumes that no
	// other container uses (docker rm -v).
	RemoveVolumes bool
}

// Remove deletes a container, its snapshot, logs and record.
// Errors: NotFound, Conflict (running without Force, removal in progress).
func (e *Engine) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.removing {
		c.mu.Unlock()
		return fmt.Errorf("removal of container %s is already in progress: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if c.rec.State.Running && !opts.Force {
		status := "running"
		if c.rec.State.Paused {
			status = "paused"
		}
		c.mu.Unlock()
		return &RunningError{ID: c.rec.ID, Status: status}
	}
	c.removing = true
	c.cancelRestart()
	running := c.rec.State.Running
	exitCh, task := c.exitCh, c.task
	id := c.rec.ID
	c.mu.Unlock()

	ctx = context.WithoutCancel(ctx)
	if running {
		if err := e.stopTask(ctx, c, task, exitCh, "KILL", 0); err != nil {
			c.mu.Lock()
			c.removing = false
			c.mu.Unlock()
			return fmt.Errorf("could not kill running container %s, cannot remove: %w", id, err)
		}
	}
	c.mu.Lock()
	if c.logw != nil {
		c.logw.Close()
		c.logw = nil
	}
	c.rec.State.Status = StatusRemoving
	e.teardownNetwork(c)
	name, taskGone := c.rec.Name, c.taskGone
	c.mu.Unlock()
	// The record directory moves out of the way at once (a restart never
	// sees the container again); deleting it, the containerd container and
	// its snapshot happens after the answer (removeLater).
	trash := e.trashDir(id)
	if err := os.Rename(e.dir(id), trash); err != nil && !os.IsNotExist(err) {
		return err
	}
	e.removeLater(id, trash, taskGone)
	e.mu.Lock()
	delete(e.byID, id)
	if e.names[name] == id {
		delete(e.names, name)
	}
	e.mu.Unlock()
	e.releaseMounts(ctx, &c.rec, opts.RemoveVolumes)
	close(c.removedCh)
	e.forgetExecs(id)
	e.emit(&c.rec, "destroy", nil)
	return nil
}

// RunningError refuses to remove a running container without force.
type RunningError struct {
	ID     string
	Status string
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("container %s is %s", e.ID, e.Status)
}

// Unwrap makes the error a Conflict.
func (e *RunningError) Unwrap() error { return errdefs.ErrConflict }

// trashPrefix marks a removed container's record directory awaiting
// deletion (engine.Remove, restore).
const trashPrefix = ".removed-"

func (e *Engine) trashDir(id string) string { return filepath.Join(e.opts.Root, trashPrefix+id) }

// removeLater deletes a removed container's containerd container (and
// snapshot), exec-root directory and record directory in the background,
// once the task of its last run is gone (taskGone, may be nil); Close waits
// for it.
func (e *Engine) removeLater(id, trash string, taskGone <-chan struct{}) {
	e.cleanups.Add(1)
	go func() {
		defer e.cleanups.Done()
		ctx := e.rootCtx
		if taskGone != nil {
			<-taskGone
		}
		if err := e.deleteContainerd(ctx, id); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("delete containerd container")
		}
		_ = os.RemoveAll(e.execDir(id))
		if err := os.RemoveAll(trash); err != nil {
			log.G(ctx).WithError(err).WithField("id", id).Warn("remove container directory")
		}
	}()
}
