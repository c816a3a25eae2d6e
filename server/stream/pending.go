package stream

import (
	"bytes"
	"context"
	"net/http"
	"sync"
)

// Pending is a hijacked connection that is opened late: writes made before
// Start are buffered and sent right after the handshake, reads wait for it.
// Attach uses it so the backend can subscribe to a container's output
// before the client sees the 101/200 and starts the container.
type Pending struct {
	w  http.ResponseWriter
	r  *http.Request
	ct string

	mu      sync.Mutex
	conn    *Conn
	buf     bytes.Buffer
	err     error
	started bool
	ready   chan struct{}
}

// NewPending prepares a hijack of w with content type ct.
func NewPending(w http.ResponseWriter, r *http.Request, ct string) *Pending {
	return &Pending{w: w, r: r, ct: ct, ready: make(chan struct{})}
}

// Start hijacks the connection (once) and flushes what was written so far.
func (p *Pending) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return p.err
	}
	p.started = true
	defer close(p.ready)
	conn, err := Hijack(p.w, p.r, p.ct)
	if err != nil {
		p.err = err
		return err
	}
	p.conn = conn
	if p.buf.Len() > 0 {
		if _, err := conn.Write(p.buf.Bytes()); err != nil {
			p.err = err
		}
		p.buf.Reset()
	}
	return p.err
}

// Write buffers before Start and writes to the connection after.
func (p *Pending) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.conn == nil {
		defer p.mu.Unlock()
		if p.err != nil {
			return 0, p.err
		}
		return p.buf.Write(b)
	}
	c := p.conn
	p.mu.Unlock()
	return c.Write(b)
}

// Read reads client input once the connection is hijacked.
func (p *Pending) Read(b []byte) (int, error) {
	<-p.ready
	if p.conn == nil {
		return 0, p.err
	}
	return p.conn.Read(b)
}

// Context is cancelled when the client hangs up (after Start) or parent ends.
func (p *Pending) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-p.ready:
		case <-ctx.Done():
			return
		}
		if p.conn == nil {
			cancel()
			return
		}
		select {
		case <-p.conn.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Close closes the connection if it was opened.
func (p *Pending) Close() {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Started reports whether the connection was hijacked.
func (p *Pending) Started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}
