package engine

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/log"
)

// Health check limits, as dockerd.
const (
	maxHealthLog       = 5
	maxHealthOutputLen = 4096
)

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHealth begins probing a running container. The caller holds c.mu.
func (e *Engine) startHealth(c *ctr) {
	hc := c.rec.Spec.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return
	}
	if c.rec.State.Health == nil {
		c.rec.State.Health = &Health{Status: HealthStarting, Log: []HealthResult{}}
	}
	stop := make(chan struct{})
	c.healthStop = stop
	go e.healthLoop(c, *hc, c.rec.State.StartedAt, stop)
}

// stopHealth ends probing. The caller holds c.mu.
func (c *ctr) stopHealth() {
	if c.healthStop != nil {
		close(c.healthStop)
		c.healthStop = nil
	}
}

func (e *Engine) healthLoop(c *ctr, hc Healthcheck, startedAt time.Time, stop <-chan struct{}) {
	for {
		wait := hc.Interval
		if hc.StartInterval > 0 && time.Since(startedAt) < hc.StartPeriod {
			wait = hc.StartInterval
		}
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		res := e.probe(c, hc, stop)
		if res == nil {
			return
		}
		e.recordHealth(c, hc, startedAt, *res)
	}
}

// probe runs the check command once as an exec. nil means the container
// stopped meanwhile.
func (e *Engine) probe(c *ctr, hc Healthcheck, stop <-chan struct{}) *HealthResult {
	ctx := e.rootCtx
	res := &HealthResult{Start: nowUTC()}
	id, err := e.ExecCreate(ctx, c.rec.ID, ExecConfig{Args: hc.Test, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil
	}
	out := &limitedBuffer{max: maxHealthOutputLen}
	done := make(chan struct{})
	go func() {
		_ = e.ExecStart(ctx, id, ExecStartOptions{Stdout: out, Stderr: out})
		close(done)
	}()
	timer := time.NewTimer(hc.Timeout)
	defer timer.Stop()
	select {
	case <-done:
		x, err := e.ExecInspect(ctx, id)
		res.End = nowUTC()
		res.Output = out.String()
		res.ExitCode = -1
		if err == nil && x.ExitCode != nil {
			res.ExitCode = *x.ExitCode
		}
	case <-timer.C:
		e.killExec(id)
		res.End = nowUTC()
		res.ExitCode = -1
		res.Output = fmt.Sprintf("Health check exceeded timeout (%s)", hc.Timeout)
	case <-stop:
		e.killExec(id)
		return nil
	}
	e.forgetExec(id)
	return res
}

// recordHealth applies a probe result with dockerd's rules: failures
// during the start period do not count; Retries consecutive failures make
// the container unhealthy; a success makes it healthy.
func (e *Engine) recordHealth(c *ctr, hc Healthcheck, startedAt time.Time, res HealthResult) {
	c.mu.Lock()
	cur := c.rec.State.Health
	if cur == nil || !c.rec.State.Running {
		c.mu.Unlock()
		return
	}
	// Copy on write: records handed out by Get and List share the old
	// Health and read it without the lock.
	h := &Health{Status: cur.Status, FailingStreak: cur.FailingStreak}
	h.Log = append(append(make([]HealthResult, 0, len(cur.Log)+1), cur.Log...), res)
	if len(h.Log) > maxHealthLog {
		h.Log = h.Log[len(h.Log)-maxHealthLog:]
	}
	c.rec.State.Health = h
	old := cur.Status
	if res.ExitCode == 0 {
		h.Status, h.FailingStreak = HealthHealthy, 0
	} else if !(h.Status == HealthStarting && res.Start.Sub(startedAt) < hc.StartPeriod) {
		h.FailingStreak++
		if h.FailingStreak >= hc.Retries {
			h.Status = HealthUnhealthy
		}
	}
	if err := e.save(c); err != nil {
		log.G(e.rootCtx).WithError(err).Debug("save health state")
	}
	rec := c.rec
	c.mu.Unlock()
	if h.Status != old {
		e.emit(&rec, "health_status: "+h.Status, nil)
	}
}

// killExec kills a running exec's process.
func (e *Engine) killExec(id string) {
	x, err := e.lookupExec(id)
	if err != nil {
		return
	}
	x.mu.Lock()
	proc := x.proc
	x.mu.Unlock()
	if proc != nil {
		_ = proc.Kill(e.rootCtx, syscall.SIGKILL, containerd.WithKillAll)
	}
}

// forgetExec drops one exec record (health probes are not kept).
func (e *Engine) forgetExec(id string) {
	e.execMu.Lock()
	delete(e.execs, id)
	e.execMu.Unlock()
}
