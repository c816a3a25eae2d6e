package engine

import (
	"context"
	"time"

	"github.com/hyperbox/hyperbox/engine/internal/jsonlog"
)

// LogEntry is one chunk of logged output.
type LogEntry = jsonlog.Entry

// LogOptions select log entries.
type LogOptions struct {
	Tail   int // < 0: all
	Since  time.Time
	Until  time.Time
	Follow bool
}

// Logs calls emit for each selected entry. With Follow it keeps going until
// the container stops (and its output is drained) or ctx ends.
// Errors: NotFound.
func (e *Engine) Logs(ctx context.Context, ref string, opts LogOptions, emit func(LogEntry) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	path := c.rec.LogPath
	// Follow ends when the container has exited and its exit is recorded,
	// so a client that inspects right after sees it stopped.
	var done <-chan struct{} = c.exitCh
	if !c.rec.State.Running {
		done = closedChan()
	}
	c.mu.Unlock()
	return jsonlog.Read(ctx, path, jsonlog.ReadOptions{
		Tail: opts.Tail, Since: opts.Since, Until: opts.Until, Follow: opts.Follow, Done: done,
	}, emit)
}
