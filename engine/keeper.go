package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The shim keeper. All containers share one runc-v2 shim (spec.go,
// shimGroup), and the shim exits when its last task is deleted: a daemon
// that runs one short container after another (a test suite, `docker run
// --rm` in a loop) would spawn a new shim for each of them, which is most
// of a start's cost after the runtime's own. While containers are in use,
// the keeper is one more task in the group, a process that only waits
// (cmd/hyperbox-pause) in an empty read-only root, so the shim stays. It is
// started with the first container after a quiet spell and stopped when no
// container was created, started or exited for Options.ShimLinger, so an idle
// daemon has no shim at all. It is never a Docker container: it has no
// record, and containerd holds it under keeperID.

// keeperID names the keeper in containerd. The runtime's state directory
// (/run/containerd/runc/<namespace>) is shared by all daemons that use the
// same containerd namespace, so the name is the daemon's own: derived from
// its exec-root, the same across its restarts.
func (e *Engine) keeperID() string {
	sum := sha256.Sum256([]byte(e.opts.ExecRoot))
	return "hyperbox-shim-keeper-" + hex.EncodeToString(sum[:6])
}

type keeper struct {
	mu sync.Mutex
	// busy is closed when the keeper's current start or stop ends.
	busy     chan struct{}
	up       bool
	disabled bool
	// retryAt holds off a new start after one failed.
	retryAt time.Time
	lastUse time.Time
	stop    chan struct{}
	done    chan struct{}
}

func (e *Engine) keeperDir() string { return filepath.Join(e.opts.ExecRoot, ".shim-keeper") }

// startKeeperLoop removes a keeper left by an earlier daemon and starts the
// loop that stops the keeper after Options.ShimLinger without use.
func (e *Engine) startKeeperLoop(ctx context.Context) {
	k := &e.keeper
	k.stop, k.done = make(chan struct{}), make(chan struct{})
	linger := e.opts.ShimLinger
	e.deleteKeeper(ctx)
	if e.opts.PauseBinary == "" || linger <= 0 {
		k.disabled = true
		close(k.done)
		return
	}
	go func() {
		defer close(k.done)
		t := time.NewTicker(min(linger/4, 10*time.Second))
		defer t.Stop()
		for {
			select {
			case <-k.stop:
				return
			case <-t.C:
				e.stopKeeper(linger)
			}
		}
	}()
}

// keepShim makes sure the keeper runs (or is being started), and records
// a use. With wait, it returns once the keeper runs or could not start, so
// that a task create never races the keeper for the shim's socket; a stop
// in progress is waited for, then the keeper starts again.
func (e *Engine) keepShim(wait bool) {
	k := &e.keeper
	for {
		k.mu.Lock()
		if k.disabled {
			k.mu.Unlock()
			return
		}
		k.lastUse = time.Now()
		if k.lastUse.Before(k.retryAt) {
			k.mu.Unlock()
			return
		}
		if busy := k.busy; busy != nil {
			k.mu.Unlock()
			if !wait {
				go func() { <-busy; e.keepShim(false) }()
				return
			}
			<-busy
			continue
		}
		if k.up {
			k.mu.Unlock()
			return
		}
		busy := make(chan struct{})
		k.busy = busy
		k.mu.Unlock()
		run := func() {
			err := e.runKeeper(e.rootCtx)
			k.mu.Lock()
			k.up = err == nil
			if err != nil {
				// Containers start without it, each spawning the shim as
				// needed; do not try again for every start.
				k.retryAt = time.Now().Add(time.Minute)
				log.G(e.rootCtx).WithError(err).Warn("shim keeper could not start; shims start with each container for a minute")
			}
			k.busy = nil
			k.mu.Unlock()
			close(busy)
		}
		if wait {
			run()
		} else {
			go run()
		}
		return
	}
}

// touchKeeper records container activity without starting the keeper.
func (e *Engine) touchKeeper() {
	k := &e.keeper
	k.mu.Lock()
	k.lastUse = time.Now()
	k.mu.Unlock()
}

func (e *Engine) runKeeper(ctx context.Context) error {
	root := filepath.Join(e.keeperDir(), "rootfs")
	for _, d := range []string{"proc", "dev", "sys", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "pause"), nil, 0o755); err != nil {
		return err
	}
	binary := e.opts.Runtimes[e.opts.DefaultRuntime]
	// One left by a stop that could not delete it goes first.
	e.deleteKeeper(ctx)
	cc, err := e.opts.Client.NewContainer(ctx, e.keeperID(),
		containerd.WithRuntime(e.shimRuntime(), &options.Options{BinaryName: binary}),
		containerd.WithNewSpec(
			oci.WithDefaultSpec(),
			oci.WithRootFSPath(root),
			oci.WithRootFSReadonly(),
			oci.WithProcessArgs("/pause"),
			oci.WithHostname("keeper"),
			oci.WithCapabilities(nil),
			oci.WithAnnotations(map[string]string{shimGroupAnnotation: shimGroup}),
			func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
				sp.Mounts = append(sp.Mounts, specs.Mount{Destination: "/pause", Type: "bind", Source: e.opts.PauseBinary, Options: []string{"rbind", "ro"}})
				sp.Version = "1.0.2" // see specOpts
				return nil
			},
		),
	)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	task, err := newTaskRetrying(ctx, e.keeperID(), func() (containerd.Task, error) {
		return cc.NewTask(ctx, cio.NullIO)
	})
	if err == nil {
		if err = task.Start(ctx); err != nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
	}
	if err != nil {
		_ = cc.Delete(ctx)
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// stopKeeper ends the keeper if it has not been used for idle (0: in any
// case); the shim exits with it unless containers still run. The check and
// the change of state are one step, so a start that found the keeper up
// (and recorded its use) never sees it stopped under it.
func (e *Engine) stopKeeper(idle time.Duration) {
	k := &e.keeper
	k.mu.Lock()
	if !k.up || k.busy != nil || time.Since(k.lastUse) < idle {
		k.mu.Unlock()
		return
	}
	busy := make(chan struct{})
	k.busy, k.up = busy, false
	k.mu.Unlock()
	e.deleteKeeper(e.rootCtx)
	k.mu.Lock()
	k.busy = nil
	k.mu.Unlock()
	close(busy)
}

// deleteKeeper kills and deletes the keeper's task and container.
func (e *Engine) deleteKeeper(ctx context.Context) {
	cc, err := e.opts.Client.LoadContainer(ctx, e.keeperID())
	if err != nil {
		return
	}
	if t, err := cc.Task(ctx, nil); err == nil {
		if ch, err := t.Wait(ctx); err == nil {
			if err := t.Kill(ctx, syscall.SIGKILL); err == nil || errdefs.IsNotFound(err) {
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
				}
			}
		}
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).Warn("delete shim keeper task")
		}
	}
	if err := cc.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		log.G(ctx).WithError(err).Warn("delete shim keeper")
	}
}

// closeKeeper stops the loop and the keeper (daemon shutdown).
func (e *Engine) closeKeeper() {
	k := &e.keeper
	if k.stop == nil {
		return
	}
	close(k.stop)
	<-k.done
	k.mu.Lock()
	busy := k.busy
	k.mu.Unlock()
	if busy != nil {
		<-busy
	}
	e.stopKeeper(0)
}
