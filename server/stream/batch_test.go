package stream

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// countingWriter is a ResponseWriter counting writes and flushes.
type countingWriter struct {
	mu      sync.Mutex
	body    bytes.Buffer
	writes  int
	flushes atomic.Int32
}

func (c *countingWriter) Header() http.Header { return http.Header{} }
func (c *countingWriter) WriteHeader(int)     {}
func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.body.Write(p)
}
func (c *countingWriter) Flush() { c.flushes.Add(1) }

// Many small writes become few writes and flushes; pending data is flushed
// by the ticker and by Close.
func TestBatchWriter(t *testing.T) {
	w := &countingWriter{}
	b := NewBatchWriter(w, 20*time.Millisecond)
	for i := 0; i < 1000; i++ {
		_, err := b.Write([]byte("line\n"))
		assert.NilError(t, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for w.flushes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Check(t, w.flushes.Load() > 0, "pending data was never flushed by the ticker")
	_, err := b.Write([]byte("last\n"))
	assert.NilError(t, err)
	assert.NilError(t, b.Close())
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Check(t, is.Equal(strings.Count(w.body.String(), "line\n"), 1000))
	assert.Check(t, strings.HasSuffix(w.body.String(), "last\n"))
	assert.Check(t, w.writes <= 3, "%d writes for 1001 lines", w.writes)
}
