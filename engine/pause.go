package engine

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// Pause freezes every process of a running container (cgroup freezer).
// Errors: NotFound, Conflict (not running, already paused).
func (e *Engine) Pause(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.rec.State.Running || c.task == nil:
		return fmt.Errorf("container %s is not running: %w", c.rec.ID, errdefs.ErrConflict)
	case c.rec.State.Paused:
		return fmt.Errorf("container %s is already paused: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if err := c.task.Pause(ctx); err != nil {
		return fmt.Errorf("cannot pause container %s: %w", c.rec.ID, err)
	}
	c.rec.State.Paused = true
	c.rec.State.Status = StatusPaused
	_ = e.save(c)
	e.emit(&c.rec, "pause", nil)
	return nil
}

// Unpause thaws a paused container. Errors: NotFound, Conflict (not paused).
func (e *Engine) Unpause(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rec.State.Paused || c.task == nil {
		return fmt.Errorf("container %s is not paused: %w", c.rec.ID, errdefs.ErrConflict)
	}
	if err := c.task.Resume(ctx); err != nil {
		return fmt.Errorf("cannot unpause container %s: %w", c.rec.ID, err)
	}
	c.rec.State.Paused = false
	c.rec.State.Status = StatusRunning
	_ = e.save(c)
	e.emit(&c.rec, "unpause", nil)
	return nil
}

// thawForStop resumes a paused container so a stop signal can act.
// The caller holds c.mu.
func (c *ctr) thawForStop(ctx context.Context) {
	if c.rec.State.Paused && c.task != nil {
		if err := c.task.Resume(ctx); err == nil {
			c.rec.State.Paused = false
			c.rec.State.Status = StatusRunning
		}
	}
}
