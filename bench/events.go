package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
)

// Task event topics the start-path breakdown uses.
const (
	topicCreate = "/tasks/create" // the shim is up and the runtime created the container
	topicStart  = "/tasks/start"  // the runtime started the container's process
	topicExit   = "/tasks/exit"   // the process exited
	topicDelete = "/tasks/delete" // the task (runtime state, shim) was deleted
)

// taskEventsOff is -no-events.
var taskEventsOff bool

// taskEvents records when the daemon's containerd published task events,
// by container ID: a view of the start path from outside the daemon, the
// same for hyperboxd and dockerd (both run their own containerd at
// <exec-root>/containerd/containerd.sock, and both name the containerd
// container after the Docker container ID).
type taskEvents struct {
	client *containerd.Client
	cancel context.CancelFunc
	mu     sync.Mutex
	seen   map[string]map[string]time.Time
	cond   *sync.Cond
}

// watchTaskEvents subscribes to the task events of the containerd of a
// daemon the benchmark started. It returns nil when that is not possible.
func watchTaskEvents(ctx context.Context, t *target) *taskEvents {
	if t.d == nil || taskEventsOff {
		return nil
	}
	sock := filepath.Join(t.d.ExecRoot(), "containerd", "containerd.sock")
	if _, err := os.Stat(sock); err != nil {
		logf("%s: no containerd socket at %s: start-path events not recorded", t.label, sock)
		return nil
	}
	c, err := containerd.New(sock, containerd.WithTimeout(5*time.Second))
	if err != nil {
		logf("%s: containerd at %s: %v: start-path events not recorded", t.label, sock, err)
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	te := &taskEvents{client: c, cancel: cancel, seen: map[string]map[string]time.Time{}}
	te.cond = sync.NewCond(&te.mu)
	envC, errC := c.Subscribe(ctx, `topic~="^/tasks/"`)
	go func() {
		for {
			select {
			case env := <-envC:
				if env == nil {
					continue
				}
				te.record(env.Topic, env.Timestamp, env.Event)
			case err := <-errC:
				if err != nil && ctx.Err() == nil {
					logf("%s: containerd events: %v", t.label, err)
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return te
}

func (te *taskEvents) record(topic string, ts time.Time, ev typeurl.Any) {
	if ev == nil {
		return
	}
	v, err := typeurl.UnmarshalAny(ev)
	if err != nil {
		return
	}
	var id string
	switch e := v.(type) {
	case *eventstypes.TaskCreate:
		id = e.ContainerID
	case *eventstypes.TaskStart:
		id = e.ContainerID
	case *eventstypes.TaskExit:
		if e.ID != e.ContainerID { // an exec's exit
			return
		}
		id = e.ContainerID
	case *eventstypes.TaskDelete:
		if e.ID != "" && e.ID != e.ContainerID {
			return
		}
		id = e.ContainerID
	default:
		return
	}
	te.mu.Lock()
	if te.seen[id] == nil {
		te.seen[id] = map[string]time.Time{}
	}
	if _, ok := te.seen[id][topic]; !ok {
		te.seen[id][topic] = ts
	}
	te.mu.Unlock()
	te.cond.Broadcast()
}

// times waits up to timeout for every topic of container id and returns
// their timestamps, forgetting the container.
func (te *taskEvents) times(id string, timeout time.Duration, topics ...string) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, te.cond.Broadcast)
	defer timer.Stop()
	te.mu.Lock()
	defer te.mu.Unlock()
	for {
		m := te.seen[id]
		missing := ""
		for _, tp := range topics {
			if _, ok := m[tp]; !ok {
				missing = tp
				break
			}
		}
		if missing == "" {
			delete(te.seen, id)
			return m, nil
		}
		if time.Now().After(deadline) {
			delete(te.seen, id)
			return nil, fmt.Errorf("containerd event %s for %.12s not seen within %s", missing, id, timeout)
		}
		te.cond.Wait()
	}
}

func (te *taskEvents) close() {
	if te == nil {
		return
	}
	te.cancel()
	_ = te.client.Close()
}
