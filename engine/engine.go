// Package engine runs containers on containerd: create, start, stop, wait,
// attach, logs and removal, with state that survives a daemon restart. It has
// its own types; Docker API knowledge lives in compat.
package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/engine/internal/broadcast"
	"github.com/hyperbox/hyperbox/engine/internal/jsonlog"
	"github.com/hyperbox/hyperbox/engine/network"
	"github.com/hyperbox/hyperbox/engine/volume"
	"github.com/hyperbox/hyperbox/storage"
)

// Options configure an Engine.
type Options struct {
	Client *containerd.Client
	Store  *storage.Store
	// Namespace is the containerd namespace the daemon's objects live in.
	Namespace string
	// Root holds one directory per container (record, logs, hosts files).
	Root string
	// ExecRoot holds runtime files (FIFOs) that need not survive a reboot.
	ExecRoot string
	// Runtimes maps runtime names ("crun", "runc") to binaries.
	Runtimes       map[string]string
	DefaultRuntime string
	// LogMaxSize and LogMaxFiles bound each container's json-file log.
	LogMaxSize  int64
	LogMaxFiles int
	// InitPath is a static init (tini) run as PID 1 for Init containers.
	InitPath string
	// VolumesRoot holds the local volumes (empty: "volumes" next to Root).
	VolumesRoot string
	// Networks manages bridge networks (nil: containers get a private
	// namespace with loopback only).
	Networks *network.Manager
	// Ports publishes container ports on the host.
	Ports PortPublisher
	// DNS starts the embedded DNS server of user-defined networks.
	DNS DNSStarter
	// PrewarmEnabled keeps a pool of prepared root filesystem snapshots
	// for recently used images, sized from demand and emptied under
	// memory or io pressure (engine/prewarm.go). Leftover pool snapshots
	// are removed at start either way.
	PrewarmEnabled bool
	// PrewarmIgnorePressure sizes the pool without PSI (the fixed pool of
	// a kernel without it): for tests that must not depend on the host's
	// pressure.
	PrewarmIgnorePressure bool
	// PauseBinary is a static program that waits for a signal
	// (cmd/hyperbox-pause), run by the shim keeper (keeper.go). Empty:
	// no keeper, the shared shim comes and goes with the containers.
	PauseBinary string
	// ShimLinger is how long the keeper outlives the last container
	// activity; 0 turns the keeper off.
	ShimLinger time.Duration
	// ShimBinary is cmd/hyperbox-shim, which answers containerd's `start`
	// of the runc-v2 shim for an already running shared shim without
	// starting the shim binary (it runs the real one for everything else).
	// Empty: containerd runs containerd-shim-runc-v2 directly.
	ShimBinary string
}

// Engine manages all containers of one daemon.
type Engine struct {
	opts      Options
	lease     createLease // engine/lease.go
	rootCtx   context.Context
	namespace string

	bus *events.Bus
	// vols are the local volumes (engine/volumes.go, engine/mounts.go).
	vols *volume.Store
	// prewarm is the pool of prepared snapshots (nil: off).
	prewarm *prewarmer
	// cleanups tracks removals finishing in the background (remove.go).
	cleanups sync.WaitGroup
	// taskDeletes counts the task deletes finishRun has under way (they
	// start in monitor goroutines, so a WaitGroup, whose Add must not race
	// its Wait, does not fit); Close waits for them.
	taskDeletes struct {
		sync.Mutex
		n    int
		done *sync.Cond
	}
	// keeper keeps the shared shim alive while containers are in use.
	keeper keeper
	// restoredAutoRemove lists --rm containers found exited at start.
	restoredAutoRemove []string

	execMu sync.Mutex
	execs  map[string]*execProc

	mu    sync.RWMutex
	byID  map[string]*ctr
	names map[string]string // name -> id
}

// ctr is a container record plus its live runtime state.
type ctr struct {
	mu  sync.Mutex
	rec Container

	task   containerd.Task
	dio    *cio.DirectIO
	logw   *jsonlog.Writer
	stdout broadcast.Broadcaster
	stderr broadcast.Broadcaster

	// exitCh is closed at the container's next exit and then replaced.
	exitCh chan struct{}
	// runDone is closed when the current run's output has been copied.
	runDone chan struct{}
	// taskGone, when set, is closed once the task of the last run has been
	// deleted; finishRun records an exit before it deletes the task.
	taskGone chan struct{}
	// removedCh is closed when the container has been removed.
	removedCh chan struct{}
	removing  bool
	// stdinClosed records that StdinOnce stdin was closed for this run.
	stdinClosed bool
	// healthStop ends the health check loop of the current run.
	healthStop chan struct{}
	// restartCancel cancels a pending restart-policy restart.
	restartCancel chan struct{}
	restartDelay  time.Duration
	// dns is the container's embedded DNS server, if any.
	dns io.Closer
	// cc is containerd's handle on the container when this daemon created
	// it (nil after a restart: start loads it). NewTask reads the record
	// again, so the handle never goes stale.
	cc containerd.Container
	// procSpec is the process of the container's OCI spec, read at its
	// first exec (engine/exec.go).
	procSpec *specs.Process
}

// New builds an engine and restores the containers recorded under Root,
// reattaching to those still running (live restore).
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.LogMaxFiles < 1 {
		opts.LogMaxFiles = 1
	}
	for _, d := range []string{opts.Root, opts.ExecRoot} {
		if err := os.MkdirAll(d, 0o710); err != nil {
			return nil, err
		}
	}
	if opts.VolumesRoot == "" {
		opts.VolumesRoot = filepath.Join(filepath.Dir(opts.Root), "volumes")
	}
	vols, err := volume.New(opts.VolumesRoot)
	if err != nil {
		return nil, fmt.Errorf("volumes: %w", err)
	}
	e := &Engine{opts: opts, namespace: opts.Namespace, bus: events.New(), rootCtx: context.WithoutCancel(ctx), byID: map[string]*ctr{}, names: map[string]string{}, execs: map[string]*execProc{}, vols: vols}
	if err := e.restore(ctx); err != nil {
		return nil, err
	}
	e.restoreMountRefs(ctx)
	e.removeRestoredAutoRemove(ctx)
	if opts.Networks != nil {
		opts.Networks.Retain(func(id string) bool {
			c, err := e.lookup(id)
			if err != nil {
				return false
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.rec.State.Running
		})
	}
	e.startPrewarm(ctx)
	e.startKeeperLoop(ctx)
	e.restartOnBoot()
	return e, nil
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (e *Engine) dir(id string) string     { return filepath.Join(e.opts.Root, id) }
func (e *Engine) execDir(id string) string { return filepath.Join(e.opts.ExecRoot, id) }

// save writes the record atomically. Callers hold c.mu.
func (e *Engine) save(c *ctr) error {
	data, err := json.Marshal(&c.rec)
	if err != nil {
		return err
	}
	p := filepath.Join(e.dir(c.rec.ID), "config.json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// lookup finds a container by full ID, name (with or without '/') or
// unique ID prefix.
func (e *Engine) lookup(ref string) (*ctr, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if ref == "" {
		return nil, fmt.Errorf("container %q: %w", ref, errdefs.ErrNotFound)
	}
	if c, ok := e.byID[ref]; ok {
		return c, nil
	}
	name := ref
	if name[0] == '/' {
		name = name[1:]
	}
	if id, ok := e.names[name]; ok {
		return e.byID[id], nil
	}
	var found *ctr
	for id, c := range e.byID {
		if len(ref) <= len(id) && id[:len(ref)] == ref {
			if found != nil {
				return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("container %q: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// Get returns a snapshot of a container's record.
func (e *Engine) Get(ctx context.Context, ref string) (Container, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return Container{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec, nil
}

// List returns all containers, newest first.
func (e *Engine) List(ctx context.Context) []Container {
	e.mu.RLock()
	all := make([]*ctr, 0, len(e.byID))
	for _, c := range e.byID {
		all = append(all, c)
	}
	e.mu.RUnlock()
	out := make([]Container, 0, len(all))
	for _, c := range all {
		c.mu.Lock()
		out = append(out, c.rec)
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// ImageInUse reports whether any container was created from image id.
func (e *Engine) ImageInUse(id string) bool {
	for _, c := range e.List(context.Background()) {
		if c.ImageID == id {
			return true
		}
	}
	return false
}

// SetMeta stores opaque upper-layer data with the container.
func (e *Engine) SetMeta(ctx context.Context, id, key string, v any) error {
	c, err := e.lookup(id)
	if err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec.Meta == nil {
		c.rec.Meta = map[string][]byte{}
	}
	c.rec.Meta[key] = data
	return e.save(c)
}

// Close stops the engine's background work (health checks, pending
// restarts) and discards the prewarmed snapshots. Running containers keep
// running under their shims.
func (e *Engine) Close() error {
	e.stopPrewarm()
	e.mu.RLock()
	for _, c := range e.byID {
		c.mu.Lock()
		c.stopHealth()
		if c.restartCancel != nil {
			close(c.restartCancel)
			c.restartCancel = nil
		}
		c.mu.Unlock()
	}
	e.mu.RUnlock()
	// Task deletes and removals finishing in the background complete
	// before containerd's client goes away (a task left undeleted keeps its
	// shim running).
	e.waitTaskDeletes()
	e.cleanups.Wait()
	e.closeCreateLease()
	e.closeKeeper()
	return nil
}

// copyOutput copies one output stream into the log and the live subscribers,
// splitting the log into lines as Docker's json-file driver does.
func copyOutput(r io.Reader, stream string, logw *jsonlog.Writer, b *broadcast.Broadcaster, ctx context.Context) {
	buf := make([]byte, 32*1024)
	var partial []byte
	flush := func(p []byte) {
		if len(p) == 0 || logw == nil {
			return
		}
		if err := logw.Write(stream, nowUTC(), p); err != nil {
			log.G(ctx).WithError(err).Debug("write container log")
		}
	}
	for {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			b.Write(chunk)
			partial = append(partial, chunk...)
			// Log whole lines; a line longer than 16 KiB is split, as the
			// json-file driver does.
			start := 0
			for {
				i := bytes.IndexByte(partial[start:], '\n')
				if i < 0 {
					break
				}
				flush(partial[start : start+i+1])
				start += i + 1
			}
			if len(partial)-start >= 16*1024 {
				flush(partial[start:])
				start = len(partial)
			}
			partial = append(partial[:0], partial[start:]...)
		}
		if err != nil {
			flush(partial)
			return
		}
	}
}
