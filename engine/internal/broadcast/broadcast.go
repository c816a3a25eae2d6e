// Package broadcast fans one container's live output out to its attached
// clients.
package broadcast

import (
	"io"
	"sync"
)

// Broadcaster copies every write to all current subscribers. A slow
// subscriber slows the copier (output is never dropped for attached clients,
// as with dockerd).
type Broadcaster struct {
	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// Sub is one subscriber; Done is closed when the broadcaster ends the
// subscription (the container's run ended).
type Sub struct {
	w    io.Writer
	done chan struct{}
	once sync.Once
}

// Done is closed when no more output will be delivered to this subscriber.
func (s *Sub) Done() <-chan struct{} { return s.done }

func (s *Sub) close() { s.once.Do(func() { close(s.done) }) }

// Subscribe registers w; writes to it happen on the copier's goroutine.
func (b *Broadcaster) Subscribe(w io.Writer) *Sub {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[*Sub]struct{}{}
	}
	s := &Sub{w: w, done: make(chan struct{})}
	b.subs[s] = struct{}{}
	return s
}

// Unsubscribe removes s; safe to call more than once.
func (b *Broadcaster) Unsubscribe(s *Sub) {
	b.mu.Lock()
	delete(b.subs, s)
	b.mu.Unlock()
	s.close()
}

// Write sends p to every subscriber; a subscriber whose write fails is dropped.
func (b *Broadcaster) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if _, err := s.w.Write(p); err != nil {
			delete(b.subs, s)
			s.close()
		}
	}
	return len(p), nil
}

// CloseAll ends every current subscription.
func (b *Broadcaster) CloseAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.close()
	}
	b.subs = nil
}
