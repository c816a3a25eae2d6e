package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/engine/internal/jsonlog"
)

// Start runs a created or stopped container. Output is wired to the log and
// to clients that attached before the start, so none of it is lost.
// Errors: NotFound, NotModified (already running), Conflict (removing).
func (e *Engine) Start(ctx context.Context, ref string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch {
	case c.removing:
		c.mu.Unlock()
		return fmt.Errorf("container is marked for removal and cannot be started: %w", errdefs.ErrConflict)
	case c.rec.State.Paused:
		c.mu.Unlock()
		return fmt.Errorf("cannot start a paused container, try unpause instead: %w", errdefs.ErrConflict)
	case c.rec.State.Running:
		c.mu.Unlock()
		return fmt.Errorf("container %s is already running: %w", c.rec.ID, errdefs.ErrNotModified)
	}
	err = e.startLocked(e.rootCtx, c)
	if err == nil {
		c.mu.Unlock()
		return nil
	}
	c.rec.State.Error = err.Error()
	c.rec.State.ExitCode = 128
	if c.rec.State.Status == StatusCreated {
		// dockerd leaves a container that failed to start as created.
		c.rec.State.ExitCode = 127
	}
	_ = e.save(c)
	// Clients attached before the start must not hang.
	c.stdout.CloseAll()
	c.stderr.CloseAll()
	autoRemove, id := c.rec.Spec.AutoRemove, c.rec.ID
	c.mu.Unlock()
	if autoRemove {
		// dockerd removes an AutoRemove container whose start failed;
		// `docker run --rm` waits for that removal.
		if rerr := e.Remove(context.WithoutCancel(ctx), id, RemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil {
			log.G(ctx).WithError(rerr).WithField("id", id).Warn("auto-remove after failed start")
		}
	}
	return err
}

func (e *Engine) fifoSet(c *ctr) *cio.FIFOSet {
	dir := e.execDir(c.rec.ID)
	cfg := cio.Config{
		Stdout:   filepath.Join(dir, "init-stdout"),
		Terminal: c.rec.Spec.Tty,
	}
	if !c.rec.Spec.Tty {
		cfg.Stderr = filepath.Join(dir, "init-stderr")
	}
	if c.rec.Spec.OpenStdin {
		cfg.Stdin = filepath.Join(dir, "init-stdin")
	}
	return cio.NewFIFOSet(cfg, nil)
}

// startLocked creates and starts the task. The caller holds c.mu.
func (e *Engine) startLocked(ctx context.Context, c *ctr) error {
	c.waitTaskGone()
	cc := c.cc
	if cc == nil {
		var err error
		if cc, err = e.opts.Client.LoadContainer(ctx, c.rec.ID); err != nil {
			return fmt.Errorf("load container: %w", err)
		}
	}
	// A task left from an earlier run (e.g. the daemon died before cleaning
	// up) must go before a new one can be created. A container this daemon
	// created and never started has none.
	if c.cc == nil || !c.rec.State.StartedAt.IsZero() {
		if old, err := cc.Task(ctx, nil); err == nil {
			_, _ = old.Delete(ctx, containerd.WithProcessKill)
		}
	}
	if err := os.MkdirAll(e.execDir(c.rec.ID), 0o700); err != nil {
		return err
	}
	undoMounts, err := e.prepareMounts(&c.rec) // engine/mounts.go
	if err != nil {
		return err
	}
	defer func() {
		if !c.rec.State.Running {
			undoMounts()
		}
	}()
	if err := e.setupNetwork(ctx, c, cc); err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			e.teardownNetwork(c)
		}
	}()
	if c.logw == nil {
		maxSize, maxFiles := e.opts.LogMaxSize, e.opts.LogMaxFiles
		if c.rec.Spec.LogMaxSize != 0 {
			maxSize, maxFiles = c.rec.Spec.LogMaxSize, max(c.rec.Spec.LogMaxFiles, 1)
		}
		w, err := jsonlog.NewWriter(c.rec.LogPath, maxSize, maxFiles)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		c.logw = w
	}
	e.keepShim(true)
	task, dio, err := e.newTask(ctx, c, cc)
	if err != nil {
		return runtimeError(err)
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		return err
	}
	e.attachIO(c, task, dio)
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		return runtimeError(err)
	}
	started = true
	e.mountEvents(&c.rec, "mount")
	now := nowUTC()
	var health *Health
	if c.rec.Spec.Healthcheck != nil {
		health = &Health{Status: HealthStarting, Log: []HealthResult{}}
	}
	c.rec.State = State{Status: StatusRunning, Running: true, Pid: int(task.Pid()), StartedAt: now, Health: health}
	c.rec.ManuallyStopped = false
	c.stdinClosed = false
	e.saveLater(c)
	e.emit(&c.rec, "start", nil)
	e.startHealth(c)
	go e.monitor(c, task, exitC, c.runDone)
	return nil
}

// attachIO starts copying the task's output into the log and the live
// subscribers. The caller holds c.mu.
func (e *Engine) attachIO(c *ctr, task containerd.Task, dio *cio.DirectIO) {
	c.task, c.dio = task, dio
	runDone := make(chan struct{})
	c.runDone = runDone
	var wg sync.WaitGroup
	logw := c.logw // read under c.mu: a removal clears the field
	if dio.Stdout != nil {
		wg.Add(1)
		go func() { defer wg.Done(); copyOutput(dio.Stdout, "stdout", logw, &c.stdout, e.rootCtx) }()
	}
	if dio.Stderr != nil {
		wg.Add(1)
		go func() { defer wg.Done(); copyOutput(dio.Stderr, "stderr", logw, &c.stderr, e.rootCtx) }()
	}
	go func() {
		wg.Wait()
		close(runDone)
	}()
}

// monitor waits for the task to exit and records it.
func (e *Engine) monitor(c *ctr, task containerd.Task, exitC <-chan containerd.ExitStatus, runDone chan struct{}) {
	st := <-exitC
	// A wait that fails (containerd restarting, connection lost) is not an
	// exit: the shim still runs the container. Arm the wait again.
	for backoff := 100 * time.Millisecond; st.Error() != nil; backoff = min(backoff*2, 2*time.Second) {
		log.G(e.rootCtx).WithError(st.Error()).WithField("id", task.ID()).Debug("task wait interrupted; waiting again")
		time.Sleep(backoff)
		ch, err := task.Wait(e.rootCtx)
		if err != nil {
			if errdefs.IsNotFound(err) {
				st = *containerd.NewExitStatus(255, nowUTC(), nil)
				break
			}
			continue
		}
		st = <-ch
	}
	code, exitedAt, _ := st.Result()
	// From here until the task is deleted, Close waits.
	e.taskDeleteStarted()
	defer e.taskDeleteDone()
	// Let the copiers drain what the process wrote before it exited; a
	// daemonized grandchild may hold the pipes open, so do not wait forever.
	select {
	case <-runDone:
	case <-time.After(5 * time.Second):
	}
	e.finishRun(c, task, int(code), exitedAt)
}

// finishRun deletes the task, records the exit and wakes waiters.
func (e *Engine) finishRun(c *ctr, task containerd.Task, code int, exitedAt time.Time) {
	ctx := e.rootCtx
	// Any OOM kill in the container's cgroup counts, even of a child (dockerd
	// reports TaskOOM events the same way).
	oom := cgroupOOMKills(e.cgroupPath(c.rec.ID)) > 0
	e.touchKeeper()
	c.mu.Lock()
	if c.dio != nil {
		c.dio.Cancel()
		c.dio.Close()
		c.dio = nil
	}
	c.task = nil
	c.stopHealth()
	e.teardownNetwork(c)
	if exitedAt.IsZero() || exitedAt.Unix() <= 0 {
		exitedAt = nowUTC()
	}
	c.rec.State = State{
		Status:     StatusExited,
		ExitCode:   code,
		OOMKilled:  oom,
		StartedAt:  c.rec.State.StartedAt,
		FinishedAt: exitedAt.UTC(),
		Health:     c.rec.State.Health,
	}
	// Written after the waiters are woken (a --rm removal usually gets the
	// lock first and the write is skipped); a restart reads the exit from
	// the task, which is deleted only later.
	e.saveLater(c)
	if oom {
		e.emit(&c.rec, "oom", nil)
	}
	e.volumesStopped(&c.rec)
	e.emit(&c.rec, "die", map[string]string{"exitCode": strconv.Itoa(code)})
	c.stdout.CloseAll()
	c.stderr.CloseAll()
	close(c.exitCh)
	c.exitCh = make(chan struct{})
	// The exit is recorded and its waiters are woken before the task is
	// deleted (the runtime's delete and the rootfs unmount take longer than
	// all of the above). Whatever needs the task gone first waits for
	// taskGone: a new start, and the containerd cleanup of a removal.
	gone := make(chan struct{})
	c.taskGone = gone
	autoRemove := c.rec.Spec.AutoRemove
	id := c.rec.ID
	if c.shouldRestart(code) {
		e.scheduleRestart(c, exitedAt.Sub(c.rec.State.StartedAt))
		autoRemove = false
	}
	c.mu.Unlock()
	log.G(ctx).WithField("id", id).WithField("exitCode", code).Debug("container exited")
	if autoRemove {
		// As dockerd, --rm also removes the anonymous volumes.
		if err := e.Remove(ctx, id, RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("id", id).Warn("auto-remove")
		}
	}
	// Close waits for the delete (monitor counts it, waitTaskDeletes); one
	// cut short by a shutdown anyway is finished by the next start
	// (restoreOne).
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		log.G(ctx).WithError(err).WithField("id", id).Warn("delete task")
	}
	close(gone)
}

func (e *Engine) taskDeleteStarted() {
	e.taskDeletes.Lock()
	e.taskDeletes.n++
	e.taskDeletes.Unlock()
}

func (e *Engine) taskDeleteDone() {
	e.taskDeletes.Lock()
	e.taskDeletes.n--
	if e.taskDeletes.n == 0 && e.taskDeletes.done != nil {
		e.taskDeletes.done.Broadcast()
	}
	e.taskDeletes.Unlock()
}

// waitTaskDeletes waits for the task deletes under way.
func (e *Engine) waitTaskDeletes() {
	e.taskDeletes.Lock()
	defer e.taskDeletes.Unlock()
	if e.taskDeletes.done == nil {
		e.taskDeletes.done = sync.NewCond(&e.taskDeletes.Mutex)
	}
	for e.taskDeletes.n > 0 {
		e.taskDeletes.done.Wait()
	}
}

// waitTaskGone waits until the task of the container's last run has been
// deleted (finishRun). The caller holds c.mu.
func (c *ctr) waitTaskGone() {
	if c.taskGone != nil {
		<-c.taskGone
		c.taskGone = nil
	}
}

// newTask creates the container's task with its I/O (newTaskRetrying).
func (e *Engine) newTask(ctx context.Context, c *ctr, cc containerd.Container) (containerd.Task, *cio.DirectIO, error) {
	var dio *cio.DirectIO
	task, err := newTaskRetrying(ctx, c.rec.ID, func() (containerd.Task, error) {
		fs := e.fifoSet(c)
		t, err := cc.NewTask(ctx, func(string) (cio.IO, error) {
			d, err := cio.NewDirectIO(ctx, fs)
			dio = d
			return d, err
		})
		if err != nil && dio != nil {
			dio.Cancel()
			dio.Close()
			dio = nil
		}
		return t, err
	})
	return task, dio, err
}

// newTaskRetrying runs create, a task create. All of the daemon's tasks
// share one shim (spec.go, shimGroup); when several start at once while
// that shim is being spawned, the shim's start can lose a race on its
// socket ("failed to start shim"); when the shim exits after its last task
// just as a new task joins it, the create finds the connection gone
// ("ttrpc: closed"; the keeper, keeper.go, avoids this while containers
// are in use). containerd has undone the create then, so it is retried.
func newTaskRetrying(ctx context.Context, id string, create func() (containerd.Task, error)) (containerd.Task, error) {
	for attempt := 0; ; attempt++ {
		task, err := create()
		if err == nil {
			return task, nil
		}
		msg := err.Error()
		raced := strings.Contains(msg, "failed to start shim") || strings.Contains(msg, "ttrpc: closed")
		if attempt >= 20 || !raced || ctx.Err() != nil {
			return nil, err
		}
		log.G(ctx).WithError(err).WithField("id", id).Debug("shim start raced; creating the task again")
		time.Sleep(time.Duration(10+5*attempt) * time.Millisecond)
	}
}

// saveLater writes the container's record after the caller (who holds
// c.mu) has answered: the write waits for the lock and saves the record
// as it is then, so it never puts back an older state than a later save.
// A daemon that dies first finds the task at restart, which is what the
// record would have said. Close waits for it.
func (e *Engine) saveLater(c *ctr) {
	e.cleanups.Add(1)
	go func() {
		defer e.cleanups.Done()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.rec.State.Status == StatusRemoving {
			return // its record directory is going
		}
		if err := e.save(c); err != nil {
			log.G(e.rootCtx).WithError(err).WithField("id", c.rec.ID).Warn("save container state")
		}
	}()
}
