package engine

import (
	"context"
	"github.com/containerd/containerd/v2/core/containers"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/opencontainers/image-spec/identity"

	"github.com/hyperbox/hyperbox/engine/prewarm"
	"github.com/hyperbox/hyperbox/storage"
)

const (
	// labelPrewarm marks a snapshot prepared ahead of a create and not
	// yet taken by a container; leftovers are removed at daemon start.
	labelPrewarm = "hyperbox.prewarm"
	// labelGCRoot keeps containerd's garbage collector off a pool
	// snapshot, which no container references yet.
	labelGCRoot = "containerd.io/gc.root"
)

// PrewarmStats is the state of the pools of prepared root filesystem
// snapshots and of wired network namespaces (engine/prewarm).
type PrewarmStats struct {
	prewarm.Stats
	// Netns is the namespace pool's (empty without networking).
	Netns   prewarm.Stats
	Enabled bool
	// PSI is how pressure is measured: "triggers", "polling" or
	// "unavailable" (then the pool has a fixed small size).
	PSI      prewarm.Mode
	Readings []prewarm.Reading
}

// prewarmer is the engine's pools of prepared snapshots and of wired
// network namespaces (prewarm_netns.go), and the PSI monitor that empties
// them under memory or io pressure.
type prewarmer struct {
	pool   *prewarm.Pool
	netns  *prewarm.Pool // nil without networking
	mon    *prewarm.Monitor
	cancel context.CancelFunc
	done   chan struct{}
}

// snapshotPool prepares active snapshots from an image's chain ID (the
// pool key) under a fresh container ID: a create that claims one uses
// that ID, so the snapshot key is the container ID as everywhere else.
type snapshotPool struct{ e *Engine }

func (s snapshotPool) Prepare(ctx context.Context, chain string) (prewarm.Entry, error) {
	id := newID()
	sn := s.e.opts.Client.SnapshotService(s.e.opts.Store.Snapshotter())
	labels := map[string]string{labelPrewarm: "1", labelGCRoot: time.Now().UTC().Format(time.RFC3339)}
	if _, err := sn.Prepare(ctx, id, chain, snapshots.WithLabels(labels)); err != nil {
		return prewarm.Entry{}, err
	}
	return prewarm.Entry{Key: chain, ID: id, Created: time.Now()}, nil
}

func (s snapshotPool) Discard(ctx context.Context, ent prewarm.Entry) error {
	sn := s.e.opts.Client.SnapshotService(s.e.opts.Store.Snapshotter())
	if err := sn.Remove(ctx, ent.ID); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// startPrewarm removes pool snapshots a previous daemon left behind, then
// starts the pool and the PSI monitor. Without PSI the pool has a fixed
// small size.
func (e *Engine) startPrewarm(ctx context.Context) {
	e.sweepPrewarmed(ctx)
	e.sweepSpareNetns(ctx)
	if !e.opts.PrewarmEnabled {
		return
	}
	var srcs []prewarm.Source
	if !e.opts.PrewarmIgnorePressure {
		srcs = prewarm.FindSources("/proc", "/sys/fs/cgroup")
	}
	// A claim's refill waits until the claiming create or start is done.
	cfg := prewarm.Config{RefillDelay: 100 * time.Millisecond}
	if len(srcs) == 0 {
		cfg.MaxPerKey, cfg.MaxTotal = 1, 2
		log.G(ctx).Warn("prewarm: no pressure stall information (PSI) used; using fixed pools of 2 snapshots and 2 network namespaces")
	}
	pw := &prewarmer{pool: prewarm.NewPool(snapshotPool{e}, cfg), done: make(chan struct{})}
	if e.opts.Networks != nil {
		pw.netns = prewarm.NewPool(netnsPool{e}, cfg)
		e.opts.Networks.OnRemove(e.forgetNetwork)
	}
	mon := prewarm.NewMonitor(prewarm.MonitorConfig{Sources: srcs, OnChange: func(high bool) {
		log.G(ctx).WithField("high", high).Info("prewarm: memory/io pressure changed")
		for _, p := range pw.pools() {
			p.SetHigh(high)
		}
	}})
	pw.mon = mon
	rctx, cancel := context.WithCancel(e.rootCtx)
	pw.cancel = cancel
	for _, p := range pw.pools() {
		p.Start(rctx)
	}
	go func() {
		defer close(pw.done)
		mon.Run(rctx)
	}()
	e.prewarm = pw
	log.G(ctx).WithField("psi", mon.Mode()).WithField("sources", len(srcs)).Info("prewarm: pools started")
}

// pools are the pools that exist.
func (pw *prewarmer) pools() []*prewarm.Pool {
	if pw.netns == nil {
		return []*prewarm.Pool{pw.pool}
	}
	return []*prewarm.Pool{pw.pool, pw.netns}
}

// stopPrewarm stops the monitor and discards every pool entry.
func (e *Engine) stopPrewarm() {
	pw := e.prewarm
	if pw == nil {
		return
	}
	pw.cancel()
	<-pw.done
	for _, p := range pw.pools() {
		p.Close(e.rootCtx)
	}
	e.collectGarbage(e.rootCtx)
}

// collectGarbage runs containerd's garbage collector now: removed
// snapshots keep their directories until it runs, which otherwise waits
// for enough other changes. Deleting a lease synchronously runs it.
func (e *Engine) collectGarbage(ctx context.Context) {
	ls := e.opts.Client.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Minute))
	if err != nil {
		log.G(ctx).WithError(err).Debug("prewarm: garbage collection")
		return
	}
	if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil {
		log.G(ctx).WithError(err).Debug("prewarm: garbage collection")
	}
}

// sweepPrewarmed removes pool snapshots left by a daemon that did not
// stop cleanly. One a container already took (the daemon died between
// its create and the relabel) only loses the labels.
func (e *Engine) sweepPrewarmed(ctx context.Context) {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	var keys []string
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		keys = append(keys, info.Name)
		return nil
	}, `labels."`+labelPrewarm+`"`)
	if err != nil {
		log.G(ctx).WithError(err).Warn("prewarm: list leftover snapshots")
		return
	}
	for _, k := range keys {
		if _, err := e.opts.Client.LoadContainer(ctx, k); err == nil {
			e.adoptSnapshot(ctx, k)
			continue
		}
		if err := sn.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("snapshot", k).Warn("prewarm: remove leftover snapshot")
		}
	}
	if len(keys) > 0 {
		e.collectGarbage(ctx)
		log.G(ctx).WithField("count", len(keys)).Info("prewarm: removed leftover pool snapshots")
	}
}

// imageChain is the pool key of img: the chain ID of its layers, the
// parent a container's snapshot is prepared from ("" for no layers).
func imageChain(img storage.Image) string {
	if len(img.Config.RootFS.DiffIDs) == 0 {
		return ""
	}
	return identity.ChainID(img.Config.RootFS.DiffIDs).String()
}

// claimSnapshot takes a prepared snapshot of img from the pool: its key
// is the new container's ID. ok is false on a miss or with the pool off.
func (e *Engine) claimSnapshot(img storage.Image) (id string, ok bool) {
	chain := imageChain(img)
	if e.prewarm == nil || chain == "" {
		return "", false
	}
	ent, ok := e.prewarm.pool.Get(chain)
	return ent.ID, ok
}

// snapshotOpt is how Create gives container id its root filesystem: the
// claimed pool snapshot, or a new one on the image's layers. The parent is
// the chain ID our image record holds: containerd's WithNewSnapshot would
// read the image's manifest and config from the content store again and ask
// the snapshotter's capabilities (for user namespace remapping, which
// HyperBox does not use), three round trips more per create.
func snapshotOpt(id string, claimed bool, img storage.Image, cimg containerd.Image) containerd.NewContainerOpts {
	if claimed {
		// The pool prepared it under this key: containerd's WithSnapshot
		// would ask the snapshotter for its mounts first, one round trip
		// for what the pool already knows.
		return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
			c.SnapshotKey = id
			c.Image = cimg.Name()
			return nil
		}
	}
	parent := imageChain(img)
	if parent == "" {
		return containerd.WithNewSnapshot(id, cimg)
	}
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		if _, err := client.SnapshotService(c.Snapshotter).Prepare(ctx, id, parent); err != nil {
			return err
		}
		c.SnapshotKey = id
		c.Image = cimg.Name()
		return nil
	}
}

// adoptSnapshot removes the pool labels from a snapshot a container now
// references (the container keeps it from the garbage collector).
func (e *Engine) adoptSnapshot(ctx context.Context, id string) {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	info := snapshots.Info{Name: id}
	if _, err := sn.Update(ctx, info, "labels."+labelPrewarm, "labels."+labelGCRoot); err != nil && !errdefs.IsNotFound(err) {
		log.G(ctx).WithError(err).WithField("snapshot", id).Warn("prewarm: relabel claimed snapshot")
	}
}

// dropClaimed removes a claimed snapshot no container took (a create that
// failed before or in NewContainer).
func (e *Engine) dropClaimed(ctx context.Context, id string) {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	if err := sn.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		log.G(ctx).WithError(err).WithField("snapshot", id).Warn("prewarm: remove claimed snapshot")
	}
}

// ForgetImage discards the pool snapshots of img and its recorded demand,
// so that deleting the image frees its layers at once.
func (e *Engine) ForgetImage(ctx context.Context, img storage.Image) {
	if e == nil || e.prewarm == nil {
		return
	}
	if chain := imageChain(img); chain != "" {
		e.prewarm.pool.Forget(ctx, chain)
	}
}

// PrewarmStats returns the pool's state, counters and PSI readings.
func (e *Engine) PrewarmStats() PrewarmStats {
	if e == nil || e.prewarm == nil {
		return PrewarmStats{PSI: prewarm.ModeUnavailable}
	}
	var netns prewarm.Stats
	if e.prewarm.netns != nil {
		netns = e.prewarm.netns.Stats()
	}
	return PrewarmStats{
		Stats:    e.prewarm.pool.Stats(),
		Netns:    netns,
		Enabled:  true,
		PSI:      e.prewarm.mon.Mode(),
		Readings: e.prewarm.mon.Readings(),
	}
}
