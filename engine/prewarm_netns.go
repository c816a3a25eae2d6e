package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/engine/network"
	"github.com/hyperbox/hyperbox/engine/prewarm"
)

// The namespace pool keeps network namespaces already wired to a
// network's bridge: lo up, a veth pair with its host end on the bridge and
// its peer eth0 inside, down and without an address. A container whose
// first network is that network claims one at start; only its address,
// MAC and route are set then. The pool key is the network's ID.
//
// An entry's ID names everything it holds, so a daemon that died finds
// its leftovers by listing its own exec-root: the pinned namespace
// <exec-root>/netns/pool-<id> and the host interface vethp<id>.
const spareNetnsPrefix = "pool-"

// spareIfName is the interface inside a pool namespace: a container's
// first network is its eth0.
const spareIfName = "eth0"

type netnsPool struct{ e *Engine }

func (e *Engine) spareNetnsPath(id string) string {
	return filepath.Join(e.opts.ExecRoot, "netns", spareNetnsPrefix+id)
}

// spareVeth is the host end of pool entry id's veth pair (15 characters,
// the kernel's limit; a container's own pairs are veth + 7).
func spareVeth(id string) string { return "vethp" + id }

func (p netnsPool) Prepare(ctx context.Context, netID string) (prewarm.Entry, error) {
	id := newID()[:10]
	path := p.e.spareNetnsPath(id)
	if err := network.NewNamespace(path); err != nil {
		return prewarm.Entry{}, err
	}
	err := network.LoopbackOnly(path)
	if err == nil {
		err = p.e.opts.Networks.PlugSpare(path, netID, spareVeth(id), spareIfName)
	}
	if err != nil {
		_ = network.DeleteNamespace(path)
		return prewarm.Entry{}, err
	}
	return prewarm.Entry{Key: netID, ID: id, Created: time.Now()}, nil
}

func (p netnsPool) Discard(ctx context.Context, ent prewarm.Entry) error {
	return p.e.discardSpare(ent.ID)
}

// discardSpare removes a pool namespace and its host interface. The
// interface goes first and explicitly: the kernel removes a pair with its
// namespace, but later, from a work queue.
func (e *Engine) discardSpare(id string) error {
	if err := network.DeleteLink(spareVeth(id)); err != nil {
		return err
	}
	return network.DeleteNamespace(e.spareNetnsPath(id))
}

// claimNetns takes a namespace wired to network netID from the pool:
// its path and the host end of its veth pair. ok is false on a miss or
// with the pool off.
func (e *Engine) claimNetns(netID string) (path, hostVeth string, ok bool) {
	if e.prewarm == nil || e.prewarm.netns == nil {
		return "", "", false
	}
	ent, ok := e.prewarm.netns.Get(netID)
	if !ok {
		return "", "", false
	}
	return e.spareNetnsPath(ent.ID), spareVeth(ent.ID), true
}

// forgetNetwork discards the pool namespaces wired to a network being
// removed, and its recorded demand.
func (e *Engine) forgetNetwork(netID string) {
	if e.prewarm != nil && e.prewarm.netns != nil {
		e.prewarm.netns.Forget(e.rootCtx, netID)
	}
}

// sweepSpareNetns removes the pool namespaces (and their interfaces) a
// previous daemon on this exec-root left behind; one a container claimed
// (its record names it) is the container's.
func (e *Engine) sweepSpareNetns(ctx context.Context) {
	ents, err := os.ReadDir(filepath.Join(e.opts.ExecRoot, "netns"))
	if err != nil {
		return
	}
	used := map[string]bool{}
	e.mu.RLock()
	for _, c := range e.byID {
		c.mu.Lock()
		used[c.rec.NetNS] = true
		c.mu.Unlock()
	}
	e.mu.RUnlock()
	n := 0
	for _, de := range ents {
		id, ok := strings.CutPrefix(de.Name(), spareNetnsPrefix)
		if !ok || used[e.spareNetnsPath(id)] {
			continue
		}
		if err := e.discardSpare(id); err != nil {
			log.G(ctx).WithError(err).WithField("netns", de.Name()).Warn("prewarm: remove leftover namespace")
			continue
		}
		n++
	}
	if n > 0 {
		log.G(ctx).WithField("count", n).Info("prewarm: removed leftover pool namespaces")
	}
}
