package engine

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/log"
)

// createLease is the containerd lease container creates run under.
// containerd's NewContainer otherwise creates a lease of its own and
// deletes it afterwards: two more metadata transactions per create, and
// the deletion marks the database for garbage collection. What a create
// adds to the lease (the snapshot it prepares) is, once the create
// returns, referenced by the container record, so one lease can serve
// many creates. It is replaced every leaseRotate and the old one deleted
// leaseGrace later, when no create still uses it, so that it does not
// collect the names of snapshots removed long ago; its expiry cleans up
// after a daemon that died.
type createLease struct {
	mu    sync.Mutex
	id    string
	since time.Time
}

const (
	leaseRotate = 10 * time.Minute
	leaseGrace  = time.Minute
	leaseExpiry = time.Hour
)

// withCreateLease returns ctx carrying the current create lease, or ctx
// itself if none can be made (containerd then makes its own).
func (e *Engine) withCreateLease(ctx context.Context) context.Context {
	l := &e.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id == "" || time.Since(l.since) > leaseRotate {
		nl, err := e.opts.Client.LeasesService().Create(context.WithoutCancel(ctx), leases.WithRandomID(), leases.WithExpiration(leaseExpiry))
		if err != nil {
			log.G(ctx).WithError(err).Debug("create lease")
			return ctx
		}
		if old := l.id; old != "" {
			time.AfterFunc(leaseGrace, func() { e.deleteLease(old) })
		}
		l.id, l.since = nl.ID, time.Now()
	}
	return leases.WithLease(ctx, l.id)
}

func (e *Engine) deleteLease(id string) {
	if err := e.opts.Client.LeasesService().Delete(e.rootCtx, leases.Lease{ID: id}); err != nil {
		log.G(e.rootCtx).WithError(err).WithField("lease", id).Debug("delete lease")
	}
}

// closeCreateLease deletes the current lease (at shutdown, when no create
// runs anymore). A retired one whose deletion is still to come expires on
// its own if the daemon stops first.
func (e *Engine) closeCreateLease() {
	l := &e.lease
	l.mu.Lock()
	id := l.id
	l.id = ""
	l.mu.Unlock()
	if id != "" {
		e.deleteLease(id)
	}
}
