package main

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Rows of the prewarm scenario: creating a container of an image the
// daemon has seen started again and again (hyperboxd's pool has a
// prepared snapshot of it: a hit) and of an image never used before (a
// miss). dockerd has no pool; its rows show the same two creates.
const (
	rowPoolHit  = "create, often used image (pool hit)"
	rowPoolMiss = "create, new image (pool miss)"
)

// prewarmState holds the never-used images made in setup.
type prewarmState struct {
	fresh []string
	next  int
}

// setupPrewarm commits one distinct image per iteration (so each miss
// really is a first use) and warms the pool with a few starts of busybox.
func setupPrewarm(n int) func(ctx context.Context, t *target) (any, error) {
	return func(ctx context.Context, t *target) (any, error) {
		st := &prewarmState{}
		for i := 0; i < n; i++ {
			id, err := createStart(ctx, t, "sh", "-c", fmt.Sprintf("echo %d > /fresh", i))
			if err != nil {
				return nil, err
			}
			if err := waitExit(ctx, t, id); err != nil {
				_ = remove(ctx, t, id)
				return nil, err
			}
			ref := fmt.Sprintf("hbx-bench-fresh:%d", i)
			if _, err := t.c.ContainerCommit(ctx, id, client.ContainerCommitOptions{Reference: ref}); err != nil {
				return nil, err
			}
			_ = remove(ctx, t, id)
			st.fresh = append(st.fresh, ref)
		}
		for i := 0; i < 3; i++ {
			if _, err := runOnce(ctx, t, true); err != nil {
				return nil, err
			}
		}
		return st, nil
	}
}

// waitExit waits until container id is not running.
func waitExit(ctx context.Context, t *target, id string) error {
	res := t.c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
		return nil
	case err := <-res.Error:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("container %s still running after 30 s", id)
	}
}

func runPrewarm(ctx context.Context, t *target, v any) ([]sample, error) {
	st := v.(*prewarmState)
	if st.next >= len(st.fresh) {
		return nil, fmt.Errorf("no fresh image left")
	}
	// Give the pool time to refill after the previous iteration.
	time.Sleep(300 * time.Millisecond)
	create := func(img string) (float64, error) {
		t0 := time.Now()
		res, err := t.c.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: img, Cmd: []string{"true"}}, HostConfig: hostConfig(false),
		})
		d := ms(time.Since(t0))
		if err != nil {
			return 0, err
		}
		return d, remove(ctx, t, res.ID)
	}
	hit, err := create(busyboxTag)
	if err != nil {
		return nil, err
	}
	miss, err := create(st.fresh[st.next])
	st.next++
	if err != nil {
		return nil, err
	}
	return []sample{{row: rowPoolHit, unit: "ms", v: hit}, {row: rowPoolMiss, unit: "ms", v: miss}}, nil
}

func teardownPrewarm(ctx context.Context, t *target, v any) error {
	st, _ := v.(*prewarmState)
	if st == nil {
		return nil
	}
	for _, ref := range st.fresh {
		_, _ = t.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	}
	return nil
}

// checkPrewarm is the benchmark's assertion that a pool hit makes a
// container's creation faster than a miss on hyperboxd (medians).
func checkPrewarm(rs []*result) error {
	var hit, miss *stats
	for _, r := range rs {
		switch r.Scenario {
		case rowPoolHit:
			hit = r.Hyperbox
		case rowPoolMiss:
			miss = r.Hyperbox
		}
	}
	if hit == nil || miss == nil {
		return nil
	}
	if hit.Median >= miss.Median {
		return fmt.Errorf("prewarm: a pool hit (median %.1f ms) is not faster than a miss (median %.1f ms)", hit.Median, miss.Median)
	}
	return nil
}
