package prewarm

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gotest.tools/v3/assert"
)

// fakeRes records what is live, to prove nothing leaks.
type fakeRes struct {
	mu       sync.Mutex
	n        int
	live     map[string]string // id -> key
	prepared int
	onPrep   func()
}

func newFake() *fakeRes { return &fakeRes{live: map[string]string{}} }

func (f *fakeRes) Prepare(ctx context.Context, key string) (Entry, error) {
	if f.onPrep != nil {
		f.onPrep()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.prepared++
	id := fmt.Sprintf("%s-%d", key, f.n)
	f.live[id] = key
	return Entry{Key: key, ID: id}, nil
}

func (f *fakeRes) Discard(ctx context.Context, e Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.live[e.ID]; !ok {
		return fmt.Errorf("discard of unknown %s", e.ID)
	}
	delete(f.live, e.ID)
	return nil
}

func (f *fakeRes) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestPool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type step struct {
		get      string // claim this key ("" none)
		wantHit  bool
		high     *bool
		advance  time.Duration
		reconc   bool
		wantPool map[string]int
	}
	yes, no := true, false
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		stats Stats // counters checked at the end
	}{
		{
			name: "first claim misses, second hits",
			steps: []step{
				{get: "a", wantHit: false, reconc: true, wantPool: map[string]int{"a": 1}},
				{get: "a", wantHit: true, wantPool: map[string]int{}},
			},
			stats: Stats{Hits: 1, Misses: 1, Prepared: 1},
		},
		{
			name: "repeated demand grows to the per-key cap",
			cfg:  Config{MaxPerKey: 3},
			steps: []step{
				{get: "a"}, {get: "a"}, {get: "a"}, {get: "a"}, {get: "a"},
				{reconc: true, wantPool: map[string]int{"a": 3}},
			},
			stats: Stats{Misses: 5, Prepared: 3},
		},
		{
			name: "total cap goes to the busiest key",
			cfg:  Config{MaxPerKey: 4, MaxTotal: 5},
			steps: []step{
				{get: "a"}, {get: "a"}, {get: "a"}, {get: "a"}, {get: "b"}, {get: "b"}, {get: "c"},
				{reconc: true, wantPool: map[string]int{"a": 4, "b": 1}},
			},
			stats: Stats{Misses: 7, Prepared: 5},
		},
		{
			name: "demand decays and the entries are released",
			cfg:  Config{HalfLife: time.Minute},
			steps: []step{
				{get: "a", reconc: true, wantPool: map[string]int{"a": 1}},
				{advance: 10 * time.Minute, reconc: true, wantPool: map[string]int{}},
			},
			stats: Stats{Misses: 1, Prepared: 1, Releases: 1},
		},
		{
			name: "under high pressure: drained, nothing new prepared",
			steps: []step{
				{get: "a"}, {get: "a"}, {get: "b", reconc: true, wantPool: map[string]int{"a": 2, "b": 1}},
				{high: &yes, wantPool: map[string]int{}},
				{get: "a", wantHit: false, reconc: true, wantPool: map[string]int{}},
				{get: "b", wantHit: false, reconc: true, wantPool: map[string]int{}},
				{high: &no, reconc: true, wantPool: map[string]int{"a": 3, "b": 2}},
			},
			stats: Stats{Misses: 5, Prepared: 8, Releases: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Unix(1000, 0)}
			tc.cfg.Now = c.now
			res := newFake()
			p := NewPool(res, tc.cfg)
			for i, s := range tc.steps {
				c.t = c.t.Add(s.advance)
				if s.get != "" {
					_, hit := p.Get(s.get)
					assert.Equal(t, hit, s.wantHit, "step %d", i)
				}
				if s.high != nil {
					p.SetHigh(*s.high)
				}
				if s.reconc {
					p.Reconcile(ctx)
				}
				if s.wantPool != nil {
					assert.DeepEqual(t, p.Stats().Entries, s.wantPool)
					st := p.Stats()
					assert.Equal(t, res.count(), st.Total+int(st.Hits), "step %d: live resources", i)
				}
			}
			st := p.Stats()
			assert.Equal(t, st.Hits, tc.stats.Hits)
			assert.Equal(t, st.Misses, tc.stats.Misses)
			assert.Equal(t, st.Prepared, tc.stats.Prepared)
			assert.Equal(t, st.Releases, tc.stats.Releases)
			// Nothing leaks: Close discards every entry; only the handed
			// out ones (hits) remain, owned by their callers.
			p.Close(ctx)
			assert.Equal(t, res.count(), int(st.Hits))
		})
	}
}

// TestPoolPressureDuringPrepare: an entry finished after pressure rose is
// discarded, not kept.
func TestPoolPressureDuringPrepare(t *testing.T) {
	t.Parallel()
	res := newFake()
	p := NewPool(res, Config{})
	res.onPrep = func() { p.SetHigh(true) }
	p.Get("a")
	p.Reconcile(context.Background())
	st := p.Stats()
	assert.Equal(t, st.Total, 0)
	assert.Equal(t, st.Prepared, uint64(1))
	assert.Equal(t, st.Releases, uint64(1))
	assert.Equal(t, res.count(), 0)
}

// TestPoolLoop runs the background loop: a claim refills without waiting
// for the interval, Close releases everything.
func TestPoolLoop(t *testing.T) {
	t.Parallel()
	res := newFake()
	p := NewPool(res, Config{Interval: time.Hour})
	p.Start(context.Background())
	p.Get("a")
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Total != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, p.Stats().Total, 1)
	p.Close(context.Background())
	assert.Equal(t, res.count(), 0)
	_, hit := p.Get("a")
	assert.Assert(t, !hit)
}

func TestPoolForget(t *testing.T) {
	t.Parallel()
	res := newFake()
	p := NewPool(res, Config{})
	p.Get("a")
	p.Get("b")
	p.Reconcile(context.Background())
	p.Forget(context.Background(), "a")
	p.Reconcile(context.Background())
	assert.DeepEqual(t, p.Stats().Entries, map[string]int{"b": 1})
	assert.Equal(t, res.count(), 1)
}
