// Package events is the daemon's event bus: every state change is
// published once, kept in a bounded history for `since` replays, and fanned
// out to live subscribers without blocking the publisher.
package events

import (
	"sync"
	"time"
)

// Event is one thing that happened to an object.
type Event struct {
	// Type is the object kind: "container", "image", "network", "volume", "daemon".
	Type string
	// Action is what happened ("create", "start", "die",
	// "exec_start: sh -c ls", "health_status: healthy", ...).
	Action string
	// ID identifies the object (container ID, image reference or ID, ...).
	ID string
	// Attributes carry the object's labels and details (name, image,
	// exitCode, signal, ...).
	Attributes map[string]string
	// Time is when it happened (nanosecond precision).
	Time time.Time
}

// historySize bounds how many past events a `since` query can replay.
const historySize = 1024

// subBuffer is how many events a slow subscriber may lag behind before it
// is dropped (its channel is closed).
const subBuffer = 1024

// Bus publishes events.
type Bus struct {
	mu      sync.Mutex
	history []Event
	subs    map[chan Event]struct{}
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[chan Event]struct{}{}} }

// Publish records ev (stamping Time if unset) and delivers it to every
// subscriber. It never blocks.
func (b *Bus) Publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Attributes == nil {
		ev.Attributes = map[string]string{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.history = append(b.history, ev)
	if len(b.history) > historySize {
		b.history = append([]Event(nil), b.history[len(b.history)-historySize:]...)
	}
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			// The subscriber cannot keep up: end its stream rather than
			// block the daemon.
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// Subscribe returns the recorded events at or after since (none when since
// is zero) and a channel of the events published from now on; both are
// taken atomically, so nothing is missed or seen twice. cancel ends the
// subscription and closes the channel.
func (b *Bus) Subscribe(since time.Time) (past []Event, ch <-chan Event, cancel func()) {
	c := make(chan Event, subBuffer)
	b.mu.Lock()
	if !since.IsZero() {
		for _, ev := range b.history {
			if !ev.Time.Before(since) {
				past = append(past, ev)
			}
		}
	}
	b.subs[c] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return past, c, func() {
		once.Do(func() {
			b.mu.Lock()
			if _, ok := b.subs[c]; ok {
				delete(b.subs, c)
				close(c)
			}
			b.mu.Unlock()
		})
	}
}

// Subscribers is the number of live subscriptions (for /info).
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
