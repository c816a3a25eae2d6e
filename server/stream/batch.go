package stream

import (
	"bufio"
	"net/http"
	"sync"
	"time"
)

// BatchWriter coalesces many small writes (a log stream's lines) into few
// HTTP chunks: it buffers and flushes every interval while data is
// pending, and on Close. A follower sees a new line within interval; a
// reader of a large log gets it in 64 KiB chunks rather than one chunk
// and flush per line. It has no Flush method on purpose, so framing
// writers (Muxer) do not flush it after every frame.
type BatchWriter struct {
	mu    sync.Mutex
	buf   *bufio.Writer
	f     http.Flusher
	dirty bool
	err   error
	stop  chan struct{}
	done  chan struct{}
}

// NewBatchWriter starts a BatchWriter on w.
func NewBatchWriter(w http.ResponseWriter, interval time.Duration) *BatchWriter {
	b := &BatchWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	b.f, _ = w.(http.Flusher)
	go b.loop(interval)
	return b
}

func (b *BatchWriter) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			if b.dirty {
				b.flushLocked()
			}
			b.mu.Unlock()
		}
	}
}

func (b *BatchWriter) flushLocked() {
	if err := b.buf.Flush(); err != nil && b.err == nil {
		b.err = err
	}
	if b.f != nil {
		b.f.Flush()
	}
	b.dirty = false
}

// Write buffers p; it fails once an earlier flush failed (client gone).
func (b *BatchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	b.dirty = true
	return b.buf.Write(p)
}

// Close stops the background flushing and flushes what is pending.
func (b *BatchWriter) Close() error {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	return b.err
}
