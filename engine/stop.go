package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/signal"
)

// ParseSignal accepts a signal name ("TERM", "SIGTERM", "sigkill") or number.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("Invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
		}
		return syscall.Signal(n), nil
	}
	sig, ok := signal.SignalMap[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	if !ok {
		return 0, fmt.Errorf("Invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// Kill sends sig (default SIGKILL, as dockerd) to the container's main
// process. Errors: NotFound, Conflict (not running), InvalidArgument.
func (e *Engine) Kill(ctx context.Context, ref string, sig string) error {
	if sig == "" {
		sig = "KILL"
	}
	s, err := ParseSignal(sig)
	if err != nil {
		return err
	}
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.cancelRestart() {
		c.rec.ManuallyStopped = true
		_ = e.save(c)
		c.mu.Unlock()
		return nil
	}
	task := c.task
	running := c.rec.State.Running
	id := c.rec.ID
	if running && task != nil && (s == syscall.SIGKILL || s == syscall.SIGTERM) {
		// A kill that ends the container is a manual stop for restart
		// policies.
		c.rec.ManuallyStopped = true
		_ = e.save(c)
	}
	c.mu.Unlock()
	if !running || task == nil {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	if err := task.Kill(ctx, s); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
		}
		return err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	e.emit(&rec, "kill", map[string]string{"signal": strconv.Itoa(int(s))})
	return nil
}

// Stop sends the stop signal (StopSignal or sig), waits up to timeout
// seconds (nil: the container's StopTimeout, else 10; negative: forever) and
// then kills the container. Errors: NotFound, NotModified (not running).
func (e *Engine) Stop(ctx context.Context, ref string, sig string, timeout *int) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.cancelRestart() {
		// A container waiting for its policy restart is stopped for good.
		c.rec.ManuallyStopped = true
		_ = e.save(c)
		c.mu.Unlock()
		return nil
	}
	if !c.rec.State.Running {
		c.mu.Unlock()
		return fmt.Errorf("container %s is already stopped: %w", c.rec.ID, errdefs.ErrNotModified)
	}
	c.rec.ManuallyStopped = true
	c.thawForStop(ctx)
	_ = e.save(c)
	if sig == "" {
		sig = c.rec.Spec.StopSignal
	}
	t := 10
	if c.rec.Spec.StopTimeout != nil {
		t = *c.rec.Spec.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	exitCh, task := c.exitCh, c.task
	c.mu.Unlock()
	if err := e.stopTask(ctx, c, task, exitCh, sig, t); err != nil {
		return err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	e.emit(&rec, "stop", nil)
	return nil
}

func (e *Engine) stopTask(ctx context.Context, c *ctr, task containerd.Task, exitCh chan struct{}, sig string, timeout int) error {
	s, err := ParseSignal(sig)
	if err != nil {
		s = syscall.SIGTERM
	}
	if task != nil && timeout != 0 {
		if err := task.Kill(ctx, s); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		if timeout < 0 {
			select {
			case <-exitCh:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-exitCh:
			return nil
		case <-time.After(time.Duration(timeout) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if task != nil {
		if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	select {
	case <-exitCh:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s did not exit after SIGKILL", c.rec.ID)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Restart stops (if running) and starts the container.
func (e *Engine) Restart(ctx context.Context, ref string, sig string, timeout *int) error {
	if err := e.Stop(ctx, ref, sig, timeout); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	if err := e.Start(ctx, ref); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	if rec, err := e.Get(ctx, ref); err == nil {
		e.emit(&rec, "restart", nil)
	}
	return nil
}
