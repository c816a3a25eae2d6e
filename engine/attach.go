package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/hyperbox/hyperbox/engine/internal/escape"
	"github.com/hyperbox/hyperbox/engine/internal/jsonlog"
)

// AttachOptions select the streams of an attach.
type AttachOptions struct {
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer // nil: not attached
	Stderr io.Writer // nil: not attached (TTY containers have only Stdout)
	// Logs replays the logged output first; Stream follows live output.
	Logs   bool
	Stream bool
	// DetachKeys is the detach sequence for TTY containers ("" = ctrl-p,ctrl-q).
	DetachKeys string
	// Ready, when set, is called once the output is followed (before any
	// stdin is read); an error from it ends the attach.
	Ready func() error
}

// ErrDetached is returned by Attach when the client typed the detach keys.
var ErrDetached = escape.ErrDetached

// Attach connects the caller to a container's streams. Subscriptions are in
// place when Attach returns from its set-up, so a Start that follows loses
// no output. It blocks until the container's current (or next, for a
// created container) run ends, or ctx ends. Errors: NotFound.
func (e *Engine) Attach(ctx context.Context, ref string, opts AttachOptions) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	if opts.Logs {
		c.mu.Lock()
		path, tty := c.rec.LogPath, c.rec.Spec.Tty
		c.mu.Unlock()
		err := jsonlog.Read(ctx, path, jsonlog.ReadOptions{Tail: -1}, func(en jsonlog.Entry) error {
			w := opts.Stdout
			if en.Stream == "stderr" && !tty {
				w = opts.Stderr
			}
			if w == nil {
				return nil
			}
			_, err := io.WriteString(w, en.Log)
			return err
		})
		if err != nil {
			return err
		}
	}
	if !opts.Stream {
		return nil
	}
	c.mu.Lock()
	if c.removing || c.rec.State.Dead {
		c.mu.Unlock()
		return nil
	}
	// A stopped container is followed from its next start, as for a
	// created one: `docker start -a` attaches before it starts.
	var subs []func()
	var done []<-chan struct{}
	if opts.Stdout != nil {
		s := c.stdout.Subscribe(opts.Stdout)
		subs = append(subs, func() { c.stdout.Unsubscribe(s) })
		done = append(done, s.Done())
	}
	if opts.Stderr != nil && !c.rec.Spec.Tty {
		s := c.stderr.Subscribe(opts.Stderr)
		subs = append(subs, func() { c.stderr.Unsubscribe(s) })
		done = append(done, s.Done())
	}
	exitCh := c.exitCh
	rec := c.rec
	c.mu.Unlock()
	e.emit(&rec, "attach", nil)
	defer func() {
		for _, u := range subs {
			u()
		}
	}()
	if opts.Ready != nil {
		if err := opts.Ready(); err != nil {
			return err
		}
	}
	detached := make(chan struct{})
	if opts.Stdin != nil {
		in := opts.Stdin
		if rec.Spec.Tty {
			keys, err := escape.ParseKeys(opts.DetachKeys)
			if err != nil {
				return fmt.Errorf("%s: %w", err.Error(), errdefs.ErrInvalidArgument)
			}
			in = escape.NewReader(in, keys)
		}
		go e.copyStdin(c, in, detached)
	}
	for _, d := range done {
		select {
		case <-d:
		case <-detached:
			e.emit(&rec, "detach", nil)
			return ErrDetached
		case <-ctx.Done():
			return nil
		}
	}
	if len(done) == 0 {
		select {
		case <-exitCh:
		case <-detached:
			e.emit(&rec, "detach", nil)
			return ErrDetached
		case <-ctx.Done():
		}
	}
	return nil
}

// copyStdin forwards client input to the container's stdin. When the client
// closes its input and the container has StdinOnce, the container's stdin is
// closed too (that is how `echo x | docker run -i img cat` ends).
func (e *Engine) copyStdin(c *ctr, r io.Reader, detached chan struct{}) {
	// Wait for the task if the container is attached to before start.
	var w io.Writer
	for i := 0; w == nil; i++ {
		c.mu.Lock()
		if c.dio != nil && c.dio.Stdin != nil && !c.stdinClosed {
			w = c.dio.Stdin
		}
		running := c.rec.State.Running || c.rec.State.Status == StatusCreated
		c.mu.Unlock()
		if w != nil {
			break
		}
		if !running || i > 6000 {
			_, _ = io.Copy(io.Discard, r)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := io.Copy(w, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, escape.ErrDetached) || c.rec.Spec.Tty {
		// As dockerd: a TTY container's stdin stays open when the client's
		// input ends (detach keys or EOF); the attach session just ends.
		close(detached)
		return
	}
	if c.rec.Spec.StdinOnce && !c.stdinClosed && c.dio != nil && c.task != nil {
		c.stdinClosed = true
		_ = c.task.CloseIO(e.rootCtx, containerd.WithStdinCloser)
		_ = c.dio.Stdin.Close()
	}
}

// Resize changes the TTY size of a running container. Errors: NotFound,
// Conflict (not running).
func (e *Engine) Resize(ctx context.Context, ref string, height, width uint) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	task := c.task
	running := c.rec.State.Running
	id := c.rec.ID
	c.mu.Unlock()
	if !running || task == nil {
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	if err := task.Resize(ctx, uint32(width), uint32(height)); err != nil {
		return err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	e.emit(&rec, "resize", map[string]string{"height": strconv.Itoa(int(height)), "width": strconv.Itoa(int(width))})
	return nil
}
