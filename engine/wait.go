package engine

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// WaitCondition selects what Wait waits for.
type WaitCondition string

// Wait conditions, as in the Docker API.
const (
	WaitNotRunning WaitCondition = "not-running"
	WaitNextExit   WaitCondition = "next-exit"
	WaitRemoved    WaitCondition = "removed"
)

// Wait registers a waiter synchronously and returns a channel that yields
// the exit status once the condition is met (or ctx ends). Registering
// before Start is what makes `docker run` see the exit of a short-lived
// container. Errors: NotFound, InvalidArgument.
func (e *Engine) Wait(ctx context.Context, ref string, cond WaitCondition) (<-chan ExitStatus, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(chan ExitStatus, 1)
	var ch <-chan struct{}
	switch cond {
	case WaitNotRunning, "":
		if !c.rec.State.Running {
			out <- ExitStatus{ExitCode: c.rec.State.ExitCode}
			return out, nil
		}
		ch = c.exitCh
	case WaitNextExit:
		ch = c.exitCh
	case WaitRemoved:
		ch = c.removedCh
	default:
		return nil, fmt.Errorf("invalid condition: %q: %w", cond, errdefs.ErrInvalidArgument)
	}
	go func() {
		select {
		case <-ch:
			c.mu.Lock()
			st := ExitStatus{ExitCode: c.rec.State.ExitCode}
			c.mu.Unlock()
			out <- st
		case <-ctx.Done():
		}
		close(out)
	}()
	return out, nil
}
