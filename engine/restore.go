package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/engine/internal/jsonlog"
)

// restore loads every container record and reconnects to tasks that kept
// running while the daemon was down (live restore). Tasks that exited in
// the meantime are reaped and their exit recorded.
func (e *Engine) restore(ctx context.Context) error {
	entries, err := os.ReadDir(e.opts.Root)
	if err != nil {
		return err
	}
	var autoRemove []string
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		if id, ok := strings.CutPrefix(ent.Name(), trashPrefix); ok {
			// Removed before the last shutdown finished deleting it.
			e.removeLater(id, filepath.Join(e.opts.Root, ent.Name()), nil)
			continue
		}
		data, err := os.ReadFile(filepath.Join(e.opts.Root, ent.Name(), "config.json"))
		if err != nil {
			log.G(ctx).WithError(err).Warnf("skipping container directory %s", ent.Name())
			continue
		}
		c := &ctr{exitCh: make(chan struct{}), runDone: closedChan(), removedCh: make(chan struct{})}
		if err := json.Unmarshal(data, &c.rec); err != nil {
			log.G(ctx).WithError(err).Warnf("skipping container %s: bad record", ent.Name())
			continue
		}
		e.byID[c.rec.ID] = c
		e.names[c.rec.Name] = c.rec.ID
		c.mu.Lock()
		e.restoreOne(ctx, c)
		if c.rec.Spec.AutoRemove && !c.rec.State.Running && c.rec.State.Status == StatusExited && !c.rec.State.StartedAt.IsZero() {
			autoRemove = append(autoRemove, c.rec.ID)
		}
		c.mu.Unlock()
	}
	e.restoredAutoRemove = autoRemove
	return nil
}

// removeRestoredAutoRemove removes the --rm containers that exited before
// the last shutdown could remove them, as dockerd does at start. It runs
// once the volumes' references are restored.
func (e *Engine) removeRestoredAutoRemove(ctx context.Context) {
	for _, id := range e.restoredAutoRemove {
		if err := e.Remove(ctx, id, RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("id", id).Warn("auto-remove after restart")
		}
	}
	e.restoredAutoRemove = nil
}

// restoreOne reconnects one container. The caller holds c.mu.
func (e *Engine) restoreOne(ctx context.Context, c *ctr) {
	lg := log.G(ctx).WithField("id", c.rec.ID)
	if c.rec.State.Status == StatusRemoving {
		c.rec.State.Status = StatusExited
	}
	cc, err := e.opts.Client.LoadContainer(ctx, c.rec.ID)
	if err != nil {
		lg.WithError(err).Warn("containerd container is gone; marking the container dead")
		e.releaseNetns(c)
		c.rec.State.Running = false
		c.rec.State.Status = StatusDead
		c.rec.State.Dead = true
		_ = e.save(c)
		return
	}
	var dio *cio.DirectIO
	t, err := cc.Task(ctx, func(fs *cio.FIFOSet) (cio.IO, error) {
		d, err := cio.NewDirectIO(e.rootCtx, cio.NewFIFOSet(fs.Config, nil))
		dio = d
		return d, err
	})
	if err != nil {
		if !errdefs.IsNotFound(err) {
			lg.WithError(err).Warn("load task")
		}
		if c.rec.State.Running {
			// The task vanished (e.g. host reboot): record an unknown exit.
			e.releaseNetns(c)
			c.rec.State = State{Status: StatusExited, ExitCode: 255, StartedAt: c.rec.State.StartedAt, FinishedAt: nowUTC()}
			_ = e.save(c)
		}
		return
	}
	if c.logw == nil {
		maxSize, maxFiles := e.opts.LogMaxSize, e.opts.LogMaxFiles
		if c.rec.Spec.LogMaxSize != 0 {
			maxSize, maxFiles = c.rec.Spec.LogMaxSize, max(c.rec.Spec.LogMaxFiles, 1)
		}
		if w, err := jsonlog.NewWriter(c.rec.LogPath, maxSize, maxFiles); err == nil {
			c.logw = w
		}
	}
	st, err := t.Status(ctx)
	if err != nil {
		lg.WithError(err).Warn("task status")
		return
	}
	exitC, err := t.Wait(e.rootCtx)
	if err != nil {
		lg.WithError(err).Warn("task wait")
		return
	}
	if dio != nil {
		e.attachIO(c, t, dio)
	} else {
		c.task = t
	}
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		c.rec.State.Status = StatusRunning
		c.rec.State.Running = true
		c.rec.State.Paused = st.Status != containerd.Running
		if c.rec.State.Paused {
			c.rec.State.Status = StatusPaused
		}
		c.rec.State.Pid = int(t.Pid())
		e.restoreNetwork(c)
		_ = e.save(c)
		e.startHealth(c)
		lg.Info("reattached to running container")
		go e.monitor(c, t, exitC, c.runDone)
	case containerd.Created:
		// Created but never started (daemon died mid-start): discard it.
		if dio != nil {
			dio.Cancel()
			dio.Close()
		}
		c.task, c.dio = nil, nil
		_, _ = t.Delete(ctx, containerd.WithProcessKill)
	default:
		if !c.rec.State.Running {
			// The exit was recorded, but the daemon stopped before the
			// task was deleted (finishRun).
			if dio != nil {
				dio.Cancel()
				dio.Close()
			}
			c.task, c.dio = nil, nil
			_, _ = t.Delete(ctx)
			return
		}
		// Exited while we were away: reap it.
		go e.monitor(c, t, exitC, c.runDone)
	}
}
