package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// sample is one measurement of one row of a scenario.
type sample struct {
	row    string             // table row
	unit   string             // "ms" or "MiB"
	v      float64            // value in unit
	phases map[string]float64 // optional per-phase ms ("1-create", ...)
}

// scenario is a measurement run against each daemon in turn: setup once per
// daemon, then iterations interleaved A/B/A/B, then teardown. run returns
// one or more samples (possibly of several rows).
type scenario struct {
	name     string
	refFree  bool // runs once, not against a daemon (the crun floor)
	setup    func(ctx context.Context, t *target) (any, error)
	run      func(ctx context.Context, t *target, st any) ([]sample, error)
	teardown func(ctx context.Context, t *target, st any) error
}

// sizes are the scenario parameters; -smoke shrinks them.
type sizes struct {
	concurrent int // containers started at once
	many       int // running containers for ps/inspect/memory
	logLines   int
	bigMB      int
	smallMB    int
	reps       int // repetitions of fast operations per iteration
	// settle is how long both daemons go without a request before idle
	// memory is first sampled: idle means idle for a while, not just after
	// the images were loaded (hyperboxd gives back memory after 5 s).
	settle time.Duration
}

var (
	sz      sizes
	netMode container.NetworkMode // "none" or "" (the daemon's default bridge)
)

func hostConfig(autoRemove bool) *container.HostConfig {
	return &container.HostConfig{AutoRemove: autoRemove, NetworkMode: netMode}
}

func createStart(ctx context.Context, t *target, cmd ...string) (string, error) {
	res, err := t.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: busyboxTag, Cmd: cmd},
		HostConfig: hostConfig(false),
	})
	if err != nil {
		return "", err
	}
	if _, err := t.c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		_ = remove(ctx, t, res.ID)
		return "", err
	}
	return res.ID, nil
}

func remove(ctx context.Context, t *target, id string) error {
	_, err := t.c.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
	return err
}

func removeAll(ctx context.Context, t *target, ids []string) error {
	var mu sync.Mutex
	var errs []error
	parallel(len(ids), 4, func(i int) {
		if err := remove(ctx, t, ids[i]); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}

// parallel runs fn(0..n-1) on at most workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	ch := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

func since(t time.Time) float64 { return ms(time.Since(t)) }
func repeat(n int, row string, fn func() (sample, error)) ([]sample, error) {
	var out []sample
	for i := 0; i < n; i++ {
		s, err := fn()
		if err != nil {
			return out, err
		}
		s.row, s.unit = row, "ms"
		out = append(out, s)
	}
	return out, nil
}

func timed(fn func() error) (sample, error) {
	t0 := time.Now()
	if err := fn(); err != nil {
		return sample{}, err
	}
	return sample{v: since(t0)}, nil
}

// scenarios returns every scenario, in the order they run.
func scenarios(fx *fixtures, iterations int) []*scenario {
	return []*scenario{
		{name: "mem-idle", run: runMemIdle},
		{name: "run-rm", run: func(ctx context.Context, t *target, _ any) ([]sample, error) {
			return repeat(sz.reps, "run --rm busybox true", func() (sample, error) { return runOnce(ctx, t, true) })
		}},
		{name: "run-phases", run: func(ctx context.Context, t *target, _ any) ([]sample, error) {
			return repeat(sz.reps, "run busybox true; rm (phases)", func() (sample, error) { return runOnce(ctx, t, false) })
		}},
		{name: "start-concurrent", run: runConcurrent},
		{name: "exec", setup: setupSleeper, run: runExec, teardown: teardownIDs},
		{name: "many", setup: setupMany, run: runMany, teardown: teardownIDs},
		{name: "logs", setup: setupLogs, run: runLogs, teardown: teardownIDs},
		{name: "stop", run: runStop},
		{name: "load-small", setup: rmImage(smallTag), run: runLoad(fx.smallTar, smallTag, "load small image")},
		{name: "load-big", setup: rmImage(bigTag), run: runLoad(fx.bigTar, bigTag, fmt.Sprintf("load %d MB image", fx.bigMB))},
		{name: "pull", setup: rmImage(fx.pullRef), run: runPull(fx)},
		{name: "compose", setup: setupCompose, run: runCompose, teardown: teardownCompose},
		{name: "prewarm", setup: setupPrewarm(iterations), run: runPrewarm, teardown: teardownPrewarm},
		{name: "floor", refFree: true, setup: setupFloor(fx), run: runFloor, teardown: teardownFloor},
	}
}
