package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hyperbox/hyperbox/engine/internal/escape"
)

// ExecConfig describes a process to run in a running container.
type ExecConfig struct {
	Args                        []string
	Env                         []string
	WorkingDir                  string
	User                        string
	Tty                         bool
	AttachStdin                 bool
	AttachStdout                bool
	AttachStderr                bool
	Privileged                  bool
	DetachKeys                  string
	ConsoleHeight, ConsoleWidth uint
}

// Exec is the state of one exec.
type Exec struct {
	ID          string
	ContainerID string
	Config      ExecConfig
	Running     bool
	// ExitCode is set once the process has exited (or failed to start).
	ExitCode *int
	Pid      int
	// Started reports whether ExecStart was called.
	Started bool
}

type execProc struct {
	mu    sync.Mutex
	state Exec
	proc  containerd.Process
	dio   *cio.DirectIO
	done  chan struct{}
	// detached is closed when an attached client typed the detach keys.
	detached chan struct{}
	height   uint
	width    uint
}

// ExecCreate registers an exec in a running container and returns its ID.
// Errors: NotFound, Conflict (container not running or paused).
func (e *Engine) ExecCreate(ctx context.Context, ref string, cfg ExecConfig) (string, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if !rec.State.Running {
		return "", fmt.Errorf("container %s is not running: %w", rec.ID, errdefs.ErrConflict)
	}
	if rec.State.Paused {
		return "", fmt.Errorf("container %s is paused, unpause the container before exec: %w", rec.ID, errdefs.ErrConflict)
	}
	if len(cfg.Args) == 0 {
		return "", fmt.Errorf("no exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	id := newID()
	x := &execProc{state: Exec{ID: id, ContainerID: rec.ID, Config: cfg}, done: make(chan struct{}), detached: make(chan struct{}),
		height: cfg.ConsoleHeight, width: cfg.ConsoleWidth}
	e.execMu.Lock()
	e.execs[id] = x
	e.execMu.Unlock()
	e.emit(&rec, "exec_create: "+strings.Join(cfg.Args, " "), map[string]string{"execID": id})
	return id, nil
}

func (e *Engine) lookupExec(id string) (*execProc, error) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	x, ok := e.execs[id]
	if !ok {
		return nil, fmt.Errorf("exec %s: %w", id, errdefs.ErrNotFound)
	}
	return x, nil
}

// ExecInspect returns an exec's state. Errors: NotFound.
func (e *Engine) ExecInspect(ctx context.Context, id string) (Exec, error) {
	x, err := e.lookupExec(id)
	if err != nil {
		return Exec{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.state, nil
}

// ExecStartOptions connect an exec's streams.
type ExecStartOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Detach starts the process and returns at once.
	Detach bool
}

// ExecStart runs the exec. Attached, it blocks until the process exits and
// its output is copied; the exit code is recorded before it returns. A
// process that cannot start (missing binary) is not an API error, as with
// dockerd: the runtime's message goes to the output and the exit code is
// 126. Errors: NotFound, Conflict (already started, container stopped).
func (e *Engine) ExecStart(ctx context.Context, id string, opts ExecStartOptions) error {
	x, err := e.lookupExec(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if x.state.Started {
		x.mu.Unlock()
		return fmt.Errorf("exec %s has already been started: %w", id, errdefs.ErrConflict)
	}
	x.state.Started = true
	cfg := x.state.Config
	x.mu.Unlock()

	c, err := e.lookup(x.state.ContainerID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	task, rec, base := c.task, c.rec, c.procSpec
	c.mu.Unlock()
	if task == nil || !rec.State.Running {
		return fmt.Errorf("container %s is not running: %w", rec.ID, errdefs.ErrConflict)
	}
	if base == nil {
		if base, err = e.loadProcessSpec(ctx, rec.ID); err != nil {
			return e.execFailed(x, &rec, opts, err)
		}
		c.mu.Lock()
		c.procSpec = base
		c.mu.Unlock()
	}
	pspec, err := execProcessSpec(base, rec, cfg)
	if err != nil {
		return e.execFailed(x, &rec, opts, err)
	}
	if err := os.MkdirAll(filepath.Join(e.execDir(rec.ID), "exec"), 0o700); err != nil {
		return err
	}
	fs := e.execFIFOs(rec.ID, id, cfg)
	var dio *cio.DirectIO
	proc, err := task.Exec(e.rootCtx, id, pspec, func(string) (cio.IO, error) {
		d, err := cio.NewDirectIO(e.rootCtx, fs)
		dio = d
		return d, err
	})
	if err != nil {
		return e.execFailed(x, &rec, opts, err)
	}
	exitC, err := proc.Wait(e.rootCtx)
	if err != nil {
		_, _ = proc.Delete(e.rootCtx, containerd.WithProcessKill)
		return e.execFailed(x, &rec, opts, err)
	}
	copied := e.copyExecIO(x, proc, dio, cfg, opts)
	if err := proc.Start(e.rootCtx); err != nil {
		_, _ = proc.Delete(e.rootCtx, containerd.WithProcessKill)
		dio.Cancel()
		dio.Close()
		return e.execFailed(x, &rec, opts, err)
	}
	x.mu.Lock()
	x.proc, x.dio = proc, dio
	x.state.Running, x.state.Pid = true, int(proc.Pid())
	h, w := x.height, x.width
	x.mu.Unlock()
	if cfg.Tty && h > 0 && w > 0 {
		_ = proc.Resize(e.rootCtx, uint32(w), uint32(h))
	}
	e.emit(&rec, "exec_start: "+strings.Join(cfg.Args, " "), map[string]string{"execID": id})
	finish := func() {
		st := <-exitC
		code, _, _ := st.Result()
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
		}
		dio.Cancel()
		dio.Close()
		n := int(code)
		x.mu.Lock()
		x.state.Running, x.state.ExitCode = false, &n
		x.mu.Unlock()
		close(x.done)
		e.emit(&rec, "exec_die", map[string]string{"execID": id, "exitCode": strconv.Itoa(n)})
		// The exit is recorded and the client answered; the runtime's
		// record of the process goes after.
		if _, err := proc.Delete(e.rootCtx); err != nil && !errdefs.IsNotFound(err) {
			log.G(e.rootCtx).WithError(err).Debug("delete exec process")
		}
	}
	go finish()
	if opts.Detach {
		return nil
	}
	select {
	case <-x.done:
	case <-x.detached:
	}
	return nil
}

// execFailed records a process that could not start: exit code 126 and
// the runtime's message on the client's output, as dockerd does.
func (e *Engine) execFailed(x *execProc, rec *Container, opts ExecStartOptions, err error) error {
	msg := strings.TrimPrefix(runtimeMessage(err), "OCI runtime exec failed: ")
	w := opts.Stderr
	if w == nil {
		w = opts.Stdout
	}
	if w != nil && !opts.Detach {
		fmt.Fprintf(w, "OCI runtime exec failed: %s: unknown\r\n", msg)
	}
	code := 126
	x.mu.Lock()
	x.state.Running, x.state.ExitCode = false, &code
	x.mu.Unlock()
	close(x.done)
	e.emit(rec, "exec_die", map[string]string{"execID": x.state.ID, "exitCode": "126"})
	return nil
}

func (e *Engine) execFIFOs(cid, id string, cfg ExecConfig) *cio.FIFOSet {
	dir := filepath.Join(e.execDir(cid), "exec")
	c := cio.Config{Terminal: cfg.Tty}
	if cfg.AttachStdin {
		c.Stdin = filepath.Join(dir, id+"-stdin")
	}
	c.Stdout = filepath.Join(dir, id+"-stdout")
	if !cfg.Tty {
		c.Stderr = filepath.Join(dir, id+"-stderr")
	}
	return cio.NewFIFOSet(c, func() error {
		for _, p := range []string{c.Stdin, c.Stdout, c.Stderr} {
			if p != "" {
				_ = removeFile(p)
			}
		}
		return nil
	})
}

// copyExecIO wires the exec's FIFOs to the client. The returned channel is
// closed when all output has been copied.
func (e *Engine) copyExecIO(x *execProc, proc containerd.Process, dio *cio.DirectIO, cfg ExecConfig, opts ExecStartOptions) <-chan struct{} {
	var wg sync.WaitGroup
	cp := func(dst io.Writer, src io.Reader) {
		defer wg.Done()
		if dst == nil {
			dst = io.Discard
		}
		// Keep draining after the client goes away (detach, hang-up), or
		// the process would block on a full pipe.
		_, _ = io.Copy(&drainOnError{w: dst}, src)
	}
	if dio.Stdout != nil {
		wg.Add(1)
		go cp(opts.Stdout, dio.Stdout)
	}
	if dio.Stderr != nil {
		wg.Add(1)
		go cp(opts.Stderr, dio.Stderr)
	}
	if dio.Stdin != nil {
		go func() {
			if opts.Stdin != nil {
				in := opts.Stdin
				if cfg.Tty {
					if keys, err := escape.ParseKeys(cfg.DetachKeys); err == nil {
						in = escape.NewReader(in, keys)
					}
				}
				if _, err := io.Copy(dio.Stdin, in); errors.Is(err, escape.ErrDetached) || cfg.Tty {
					// The client detached, or its input ended on a TTY: as
					// with dockerd the process keeps its stdin open.
					close(x.detached)
					return
				}
			}
			// The client closed its input: close the process's stdin.
			_ = proc.CloseIO(e.rootCtx, containerd.WithStdinCloser)
			_ = dio.Stdin.Close()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// ExecResize resizes an exec's TTY (remembered if it has not started yet).
func (e *Engine) ExecResize(ctx context.Context, id string, height, width uint) error {
	x, err := e.lookupExec(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.height, x.width = height, width
	proc := x.proc
	running := x.state.Running
	x.mu.Unlock()
	if proc == nil || !running {
		return nil
	}
	return proc.Resize(ctx, uint32(width), uint32(height))
}

// loadProcessSpec reads the process of container id's OCI spec from
// containerd. The container keeps it (ctr.procSpec): the process part of
// a spec does not change after the create (an update changes resources).
func (e *Engine) loadProcessSpec(ctx context.Context, id string) (*specs.Process, error) {
	cc, err := e.opts.Client.LoadContainer(ctx, id)
	if err != nil {
		return nil, err
	}
	// The record LoadContainer just read, not a second round trip.
	info, err := cc.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := jsonUnmarshalAny(info.Spec, &spec); err != nil {
		return nil, err
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("container %s has no process in its spec", id)
	}
	return spec.Process, nil
}

// execProcessSpec builds the exec's OCI process from the container's
// (base, shared: only replaced, never changed in place).
func execProcessSpec(base *specs.Process, rec Container, cfg ExecConfig) (*specs.Process, error) {
	p := *base
	p.Args = cfg.Args
	p.Terminal = cfg.Tty
	p.ConsoleSize = nil
	p.Env = mergeEnvKV(base.Env, cfg.Env)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		u, err := resolveUser(rec.State.Pid, cfg.User)
		if err != nil {
			return nil, err
		}
		p.User = u
	}
	if cfg.Privileged {
		all, err := cap.Current()
		if err != nil {
			return nil, err
		}
		caps := *p.Capabilities
		caps.Bounding, caps.Effective, caps.Permitted = all, all, all
		p.Capabilities = &caps
	}
	return &p, nil
}

// mergeEnvKV overrides base KEY=VALUE entries with extra ones.
func mergeEnvKV(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// forgetExecs drops the exec records of a removed container.
func (e *Engine) forgetExecs(cid string) {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	for id, x := range e.execs {
		if x.state.ContainerID == cid {
			delete(e.execs, id)
		}
	}
}

// ExecIDs lists the running execs of a container (dockerd drops an exec
// from the container's list when it exits; it stays inspectable by ID).
func (e *Engine) ExecIDs(cid string) []string {
	e.execMu.Lock()
	defer e.execMu.Unlock()
	var ids []string
	for id, x := range e.execs {
		x.mu.Lock()
		running := x.state.Running
		x.mu.Unlock()
		if x.state.ContainerID == cid && running {
			ids = append(ids, id)
		}
	}
	return ids
}

// drainOnError forwards writes until one fails, then discards the rest.
type drainOnError struct {
	w      io.Writer
	failed bool
}

func (d *drainOnError) Write(p []byte) (int, error) {
	if !d.failed {
		if _, err := d.w.Write(p); err != nil {
			d.failed = true
		}
	}
	return len(p), nil
}
