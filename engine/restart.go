package engine

import (
	"time"

	"github.com/containerd/log"
)

// Restart back-off, as dockerd: 100ms doubling to one minute, reset after
// a run of at least ten seconds.
const (
	restartDelayMin   = 100 * time.Millisecond
	restartDelayMax   = time.Minute
	restartResetAfter = 10 * time.Second
)

// shouldRestart applies the restart policy to an exit. The caller holds c.mu.
func (c *ctr) shouldRestart(code int) bool {
	if c.removing || c.rec.ManuallyStopped {
		return false
	}
	p := c.rec.Spec.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries <= 0 || c.rec.RestartCount < p.MaxRetries)
	}
	return false
}

// scheduleRestart marks the container restarting and starts it again after
// the back-off delay, unless stop, kill or remove cancel it first. The
// caller holds c.mu.
func (e *Engine) scheduleRestart(c *ctr, ranFor time.Duration) {
	if ranFor >= restartResetAfter || c.restartDelay == 0 {
		c.restartDelay = restartDelayMin
	} else {
		c.restartDelay = min(c.restartDelay*2, restartDelayMax)
	}
	c.rec.State.Restarting = true
	c.rec.State.Status = StatusRestarting
	cancel := make(chan struct{})
	c.restartCancel = cancel
	_ = e.save(c)
	delay := c.restartDelay
	go func() {
		select {
		case <-cancel:
			return
		case <-time.After(delay):
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.restartCancel != cancel || c.removing {
			return
		}
		c.restartCancel = nil
		c.rec.RestartCount++
		if err := e.startLocked(e.rootCtx, c); err != nil {
			log.G(e.rootCtx).WithError(err).WithField("id", c.rec.ID).Warn("restart policy: start failed")
			c.rec.State.Restarting = false
			c.rec.State.Status = StatusExited
			c.rec.State.Error = err.Error()
			_ = e.save(c)
		}
	}()
}

// cancelRestart stops a pending policy restart. The caller holds c.mu; it
// reports whether one was pending.
func (c *ctr) cancelRestart() bool {
	if c.restartCancel == nil {
		return false
	}
	close(c.restartCancel)
	c.restartCancel = nil
	c.rec.State.Restarting = false
	c.rec.State.Status = StatusExited
	return true
}

// restartOnBoot starts, after a daemon restart, the containers whose
// policy says they should run: "always" ones, and "unless-stopped" and
// "on-failure" ones that were not stopped by hand (as dockerd does).
func (e *Engine) restartOnBoot() {
	for _, rec := range e.List(e.rootCtx) {
		if rec.State.Running || rec.State.Dead {
			continue
		}
		p := rec.Spec.RestartPolicy
		want := p.Name == "always" ||
			p.Name == "unless-stopped" && !rec.ManuallyStopped ||
			p.Name == "on-failure" && !rec.ManuallyStopped && rec.State.ExitCode != 0 && !rec.State.StartedAt.IsZero()
		if !want {
			continue
		}
		if err := e.Start(e.rootCtx, rec.ID); err != nil {
			log.G(e.rootCtx).WithError(err).WithField("id", rec.ID).Warn("restart policy: start after daemon restart failed")
		}
	}
}
