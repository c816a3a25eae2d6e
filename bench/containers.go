package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

func runConcurrent(ctx context.Context, t *target, _ any) ([]sample, error) {
	n := sz.concurrent
	ids := make([]string, n)
	errs := make([]error, n)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = createStart(ctx, t, "sleep", "3600")
		}()
	}
	wg.Wait()
	v := since(t0)
	var live []string
	for _, id := range ids {
		if id != "" {
			live = append(live, id)
		}
	}
	rmErr := removeAll(ctx, t, live)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if rmErr != nil {
		return nil, fmt.Errorf("removing: %w", rmErr)
	}
	return []sample{{row: fmt.Sprintf("%d containers started concurrently", n), unit: "ms", v: v}}, nil
}

func setupSleeper(ctx context.Context, t *target) (any, error) {
	id, err := createStart(ctx, t, "sleep", "3600")
	if err != nil {
		return nil, err
	}
	return []string{id}, nil
}

func teardownIDs(ctx context.Context, t *target, st any) error {
	ids, _ := st.([]string)
	return removeAll(ctx, t, ids)
}

// runExec does what `docker exec <c> true` does: exec create, exec start
// attached (hijacked) until the stream ends, exec inspect for the status.
func runExec(ctx context.Context, t *target, st any) ([]sample, error) {
	id := st.([]string)[0]
	return repeat(sz.reps, "exec true", func() (sample, error) {
		return timed(func() error {
			ex, err := t.c.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: []string{"true"}, AttachStdout: true, AttachStderr: true})
			if err != nil {
				return err
			}
			att, err := t.c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
			if err != nil {
				return err
			}
			_, err = stdcopy.StdCopy(io.Discard, io.Discard, att.Reader)
			att.Close()
			if err != nil {
				return err
			}
			in, err := t.c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
			if err != nil {
				return err
			}
			if in.Running || in.ExitCode != 0 {
				return fmt.Errorf("exec: running=%v exit=%d", in.Running, in.ExitCode)
			}
			return nil
		})
	})
}

func setupMany(ctx context.Context, t *target) (any, error) {
	ids := make([]string, sz.many)
	errs := make([]error, sz.many)
	parallel(sz.many, 4, func(i int) { ids[i], errs[i] = createStart(ctx, t, "sleep", "3600") })
	var live []string
	for _, id := range ids {
		if id != "" {
			live = append(live, id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		_ = removeAll(ctx, t, live)
		return nil, err
	}
	return live, nil
}

// runMany measures `ps -a` and `inspect` with sz.many running containers,
// and the daemon's memory with them.
func runMany(ctx context.Context, t *target, st any) ([]sample, error) {
	ids := st.([]string)
	ps, err := repeat(sz.reps, fmt.Sprintf("ps -a (%d running)", len(ids)), func() (sample, error) {
		return timed(func() error {
			res, err := t.c.ContainerList(ctx, client.ContainerListOptions{All: true})
			if err == nil && len(res.Items) < len(ids) {
				err = fmt.Errorf("ps -a listed %d containers, want >= %d", len(res.Items), len(ids))
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	i := 0
	insp, err := repeat(2*sz.reps, fmt.Sprintf("inspect (%d running)", len(ids)), func() (sample, error) {
		i++
		return timed(func() error {
			_, err := t.c.ContainerInspect(ctx, ids[i%len(ids)], client.ContainerInspectOptions{})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	out := append(ps, insp...)
	if t.d != nil {
		m, err := daemonMemory(t)
		if err != nil {
			return nil, err
		}
		out = append(out, m.samples(fmt.Sprintf("%d running", len(ids)))...)
	}
	return out, nil
}

// settleOnce lets both daemons go without a request for sz.settle first.
var settleOnce sync.Once

func runMemIdle(ctx context.Context, t *target, _ any) ([]sample, error) {
	if t.d == nil {
		return nil, nil // pids unknown for a daemon given by address
	}
	// The first sample waits (for both daemons at once: neither gets a
	// request meanwhile); the later ones follow other idle samples.
	settleOnce.Do(func() {
		select {
		case <-time.After(sz.settle):
		case <-ctx.Done():
		}
	})
	m, err := daemonMemory(t)
	if err != nil {
		return nil, err
	}
	return m.samples("idle"), nil
}

func setupLogs(ctx context.Context, t *target) (any, error) {
	id, err := createStart(ctx, t, "seq", "1", fmt.Sprint(sz.logLines))
	if err != nil {
		return nil, err
	}
	if err := waitExit(ctx, t, id); err != nil {
		_ = remove(ctx, t, id)
		return nil, err
	}
	// The log copier may still be writing the tail when wait returns.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := logLines(ctx, t, id)
		if err == nil && n == sz.logLines {
			return []string{id}, nil
		}
		if time.Now().After(deadline) {
			_ = remove(ctx, t, id)
			return nil, fmt.Errorf("logs: %d lines, want %d (%v)", n, sz.logLines, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func logLines(ctx context.Context, t *target, id string) (int, error) {
	rc, err := t.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var lc lineCounter
	_, err = stdcopy.StdCopy(&lc, &lc, rc)
	return lc.n, err
}

func runLogs(ctx context.Context, t *target, st any) ([]sample, error) {
	id := st.([]string)[0]
	return repeat(max(1, sz.reps/2), fmt.Sprintf("logs (%dk lines)", sz.logLines/1000), func() (sample, error) {
		return timed(func() error {
			n, err := logLines(ctx, t, id)
			if err == nil && n != sz.logLines {
				err = fmt.Errorf("logs: %d lines, want %d", n, sz.logLines)
			}
			return err
		})
	})
}

// runStop times `docker stop -t 1` of a container whose PID 1 ignores
// SIGTERM: the daemon signals, waits 1 s, kills and waits for the exit.
func runStop(ctx context.Context, t *target, _ any) ([]sample, error) {
	id, err := createStart(ctx, t, "sh", "-c", "trap '' TERM; while true; do sleep 1; done")
	if err != nil {
		return nil, err
	}
	defer remove(ctx, t, id)
	time.Sleep(100 * time.Millisecond) // let the shell install its trap
	one := 1
	s, err := timed(func() error {
		_, err := t.c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &one})
		return err
	})
	if err != nil {
		return nil, err
	}
	in, err := t.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	if in.Container.State.Running {
		return nil, errors.New("still running after stop")
	}
	s.row, s.unit = "stop -t 1 (SIGTERM ignored)", "ms"
	return []sample{s}, nil
}
