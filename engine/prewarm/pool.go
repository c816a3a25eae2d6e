package prewarm

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/containerd/log"
)

// Entry is one ready resource in the pool.
type Entry struct {
	// Key is what the entry was prepared for (e.g. an image chain ID).
	Key string
	// ID names the resource (e.g. a snapshot key).
	ID      string
	Created time.Time
}

// Resource prepares and discards one kind of pooled resource.
type Resource interface {
	// Prepare makes one ready entry for key; it blocks on the work.
	Prepare(ctx context.Context, key string) (Entry, error)
	// Discard releases an entry that was never handed out.
	Discard(ctx context.Context, e Entry) error
}

// Config sizes a Pool. Zero values take the defaults.
type Config struct {
	// MaxPerKey and MaxTotal cap the pool (defaults 4 and 16).
	MaxPerKey, MaxTotal int
	// HalfLife is how fast recorded demand decays (default 2 min): a key
	// claimed once keeps one entry for about two half-lives.
	HalfLife time.Duration
	// Interval is the period of the refill/trim pass (default 5 s); a
	// claim or a pressure change runs one after RefillDelay.
	Interval time.Duration
	// RefillDelay puts off the pass a claim asks for (default none), so
	// that the refill does not compete with the work of the container
	// that just took an entry: preparing the next snapshot or namespace
	// takes the same locks (containerd's metadata database, rtnl).
	RefillDelay time.Duration
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Stats is the pool's state and counters.
type Stats struct {
	// High says memory or io pressure holds the pool empty.
	High bool
	// Entries counts ready entries per key; Total sums them.
	Entries map[string]int
	Total   int
	// Targets is the wanted size per key from recent demand.
	Targets map[string]int
	// Hits and Misses count claims that found an entry or not; Releases
	// counts entries discarded unused (pressure, lower demand, close);
	// Prepared counts entries made, Failures failed preparations.
	Hits, Misses, Releases, Prepared, Failures uint64
}

type demand struct {
	score float64
	at    time.Time
}

// Pool keeps ready resources per key, sized from recent demand, and
// empty under pressure.
type Pool struct {
	res Resource
	cfg Config

	mu      sync.Mutex
	entries map[string][]Entry
	demand  map[string]*demand
	high    bool
	closed  bool
	st      Stats

	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPool builds a pool over res. Start runs its refill loop.
func NewPool(res Resource, cfg Config) *Pool {
	if cfg.MaxPerKey <= 0 {
		cfg.MaxPerKey = 4
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = 16
	}
	if cfg.HalfLife <= 0 {
		cfg.HalfLife = 2 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pool{res: res, cfg: cfg, entries: map[string][]Entry{}, demand: map[string]*demand{}, kick: make(chan struct{}, 1)}
}

// Start runs the refill loop until Close.
func (p *Pool) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
				if p.cfg.RefillDelay > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(p.cfg.RefillDelay):
					}
				}
			case <-t.C:
			}
			p.Reconcile(ctx)
		}
	}()
}

// Close stops the loop and discards every entry. Blocks on the discards.
func (p *Pool) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	p.Reconcile(ctx)
}

// Get claims a ready entry for key (a hit) or reports a miss. Either way
// the claim counts as demand and a refill pass is scheduled. The caller
// owns a returned entry.
func (p *Pool) Get(key string) (Entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Entry{}, false
	}
	now := p.cfg.Now()
	d := p.demand[key]
	if d == nil {
		d = &demand{at: now}
		p.demand[key] = d
	}
	d.score = p.decayed(d, now) + 1
	d.at = now
	p.poke()
	list := p.entries[key]
	if len(list) == 0 {
		p.st.Misses++
		return Entry{}, false
	}
	e := list[0]
	p.entries[key] = list[1:]
	if len(p.entries[key]) == 0 {
		delete(p.entries, key)
	}
	p.st.Hits++
	return e, true
}

// SetHigh records the pressure state. High stops preparing and discards
// every ready entry before it returns (it blocks on the discards); low
// schedules a refill.
func (p *Pool) SetHigh(high bool) {
	p.mu.Lock()
	p.high = high
	var drop []Entry
	if high {
		for k, l := range p.entries {
			drop = append(drop, l...)
			delete(p.entries, k)
		}
	}
	p.poke()
	p.mu.Unlock()
	for _, e := range drop {
		p.discard(context.Background(), e)
	}
}

// Forget drops the demand recorded for key and discards its entries
// (e.g. the image is being deleted). Blocks on the discards.
func (p *Pool) Forget(ctx context.Context, key string) {
	p.mu.Lock()
	drop := p.entries[key]
	delete(p.entries, key)
	delete(p.demand, key)
	p.mu.Unlock()
	for _, e := range drop {
		p.discard(ctx, e)
	}
}

// Stats returns the pool's state and counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.High = p.high
	st.Entries = map[string]int{}
	for k, l := range p.entries {
		st.Entries[k] = len(l)
		st.Total += len(l)
	}
	st.Targets = p.targets(p.cfg.Now())
	return st
}

func (p *Pool) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Pool) decayed(d *demand, now time.Time) float64 {
	dt := now.Sub(d.at)
	if dt <= 0 {
		return d.score
	}
	return d.score * math.Exp2(-float64(dt)/float64(p.cfg.HalfLife))
}

// targets computes the wanted size per key: the decayed claim count,
// rounded up, capped per key and in total (busiest keys first). Callers
// hold p.mu.
func (p *Pool) targets(now time.Time) map[string]int {
	out := map[string]int{}
	if p.high || p.closed {
		return out
	}
	type kv struct {
		key   string
		score float64
	}
	var all []kv
	for k, d := range p.demand {
		if s := p.decayed(d, now); s >= 0.25 {
			all = append(all, kv{k, s})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].key < all[j].key
	})
	left := p.cfg.MaxTotal
	for _, x := range all {
		n := min(int(math.Ceil(x.score-0.25)), p.cfg.MaxPerKey, left)
		if n <= 0 {
			continue
		}
		out[x.key] = n
		left -= n
	}
	return out
}

// Reconcile runs one pass: discard what is over target (everything under
// pressure), then prepare what is missing while pressure stays low. It
// blocks on the resource's work.
func (p *Pool) Reconcile(ctx context.Context) {
	p.mu.Lock()
	now := p.cfg.Now()
	for k, d := range p.demand {
		if p.decayed(d, now) < 0.25 {
			delete(p.demand, k)
		}
	}
	want := p.targets(now)
	var extra []Entry
	for k, list := range p.entries {
		if n := want[k]; len(list) > n {
			// Keep the newest, discard the oldest.
			extra = append(extra, list[:len(list)-n]...)
			p.entries[k] = list[len(list)-n:]
			if n == 0 {
				delete(p.entries, k)
			}
		}
	}
	var missing []string
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for i := len(p.entries[k]); i < want[k]; i++ {
			missing = append(missing, k)
		}
	}
	p.mu.Unlock()

	for _, e := range extra {
		p.discard(context.WithoutCancel(ctx), e)
	}
	for _, k := range missing {
		p.mu.Lock()
		stop := p.high || p.closed || len(p.entries[k]) >= p.targets(p.cfg.Now())[k]
		p.mu.Unlock()
		if stop || ctx.Err() != nil {
			continue
		}
		e, err := p.res.Prepare(ctx, k)
		if err != nil {
			p.mu.Lock()
			p.st.Failures++
			p.mu.Unlock()
			log.G(ctx).WithError(err).WithField("key", k).Debug("prewarm: prepare")
			continue
		}
		p.mu.Lock()
		p.st.Prepared++
		keep := !p.high && !p.closed && len(p.entries[k]) < p.targets(p.cfg.Now())[k]
		if keep {
			p.entries[k] = append(p.entries[k], e)
		}
		p.mu.Unlock()
		if !keep {
			// Pressure rose (or demand fell) while it was being made.
			p.discard(context.WithoutCancel(ctx), e)
		}
	}
}

func (p *Pool) discard(ctx context.Context, e Entry) {
	if err := p.res.Discard(ctx, e); err != nil {
		log.G(ctx).WithError(err).WithField("id", e.ID).Warn("prewarm: discard")
	}
	p.mu.Lock()
	p.st.Releases++
	p.mu.Unlock()
}
