package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// runOnce does what `docker run [--rm] busybox true` does: create, attach
// (stream stdout/stderr), wait (condition "removed" with --rm, whose
// AutoRemove the daemon carries out since API 1.25, else "next-exit"),
// start, then the wait result; without --rm it removes explicitly. Each API
// call is a phase.
func runOnce(ctx context.Context, t *target, rm bool) (sample, error) {
	ph := map[string]float64{}
	t0 := time.Now()
	cr, err := t.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: busyboxTag, Cmd: []string{"true"}, AttachStdout: true, AttachStderr: true},
		HostConfig: hostConfig(rm),
	})
	if err != nil {
		return sample{}, fmt.Errorf("create: %w", err)
	}
	id := cr.ID
	ph["1-create"] = since(t0)
	t1 := time.Now()
	att, err := t.c.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		_ = remove(ctx, t, id)
		return sample{}, fmt.Errorf("attach: %w", err)
	}
	defer att.Close()
	ph["2-attach"] = since(t1)
	streamDone := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(io.Discard, io.Discard, att.Reader)
		streamDone <- err
	}()
	cond := container.WaitConditionNextExit
	if rm {
		cond = container.WaitConditionRemoved
	}
	t2 := time.Now()
	wait := t.c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	ph["3-wait"] = since(t2)
	t3 := time.Now()
	if _, err := t.c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		_ = remove(ctx, t, id)
		return sample{}, fmt.Errorf("start: %w", err)
	}
	ph["4-start"] = since(t3)
	t4 := time.Now()
	select {
	case res := <-wait.Result:
		if res.StatusCode != 0 {
			return sample{}, fmt.Errorf("exit status %d", res.StatusCode)
		}
	case err := <-wait.Error:
		_ = remove(ctx, t, id)
		return sample{}, fmt.Errorf("wait: %w", err)
	}
	tw := time.Now()
	select {
	case <-streamDone:
	case <-time.After(10 * time.Second):
		return sample{}, errors.New("attach stream did not end 10s after the container exited")
	}
	if rm {
		ph["5-exit+autoremove"] = ms(tw.Sub(t4))
	} else {
		ph["5-exit"] = ms(tw.Sub(t4))
		t5 := time.Now()
		if _, err := t.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{}); err != nil {
			return sample{}, fmt.Errorf("remove: %w", err)
		}
		ph["6-remove"] = since(t5)
	}
	total := since(t0)
	eventPhases(t, id, t3, t4, tw, ph) // may wait for events: after the clock stops
	return sample{v: total, phases: ph}, nil
}

// eventPhases splits the start and exit phases at the containerd task
// events of container id: start called (t3) -> task created (shim up,
// runtime create done) -> task started (runtime start done) -> start
// returned (t4); process exit event -> wait returned (tw).
func eventPhases(t *target, id string, t3, t4, tw time.Time, ph map[string]float64) {
	if t.ev == nil {
		return
	}
	m, err := t.ev.times(id, 500*time.Millisecond, topicCreate, topicStart, topicExit)
	if err != nil {
		// Seen with hyperboxd in a few percent of runs: /tasks/exit is never
		// published (the task is deleted right after the exit; the shim
		// may go before it forwards the event). The sample keeps its
		// API-level phases.
		logf("%s: %v", t.label, err)
		return
	}
	ph["4.1-start: call -> task created (prep, shim, runtime create)"] = ms(m[topicCreate].Sub(t3))
	ph["4.2-start: task created -> started (runtime start)"] = ms(m[topicStart].Sub(m[topicCreate]))
	ph["4.3-start: task started -> call returns"] = ms(t4.Sub(m[topicStart]))
	// true exits within a few ms, often before start returns; what follows
	// the exit event is the daemon's exit handling (task delete, state,
	// with --rm the removal) until the waiter is told.
	ph["5.1-exit: exit event -> wait returns"] = ms(tw.Sub(m[topicExit]))
}
