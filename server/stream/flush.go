package stream

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

var timeZero time.Time

// FlushWriter flushes after every write so streamed responses reach the
// client at once (wait, logs, events, progress).
type FlushWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	f  http.Flusher
}

// NewFlushWriter wraps w.
func NewFlushWriter(w http.ResponseWriter) *FlushWriter {
	f, _ := w.(http.Flusher)
	return &FlushWriter{w: w, f: f}
}

// Write writes and flushes.
func (fw *FlushWriter) Write(p []byte) (int, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

// Flush flushes buffered data.
func (fw *FlushWriter) Flush() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.f != nil {
		fw.f.Flush()
	}
}

// JSONStream writes one complete JSON object per line per flush.
type JSONStream struct {
	fw *FlushWriter
}

// NewJSONStream sends the 200 header with Content-Type application/json and
// flushes it, then returns the stream.
func NewJSONStream(w http.ResponseWriter) *JSONStream {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := NewFlushWriter(w)
	fw.Flush()
	return &JSONStream{fw: fw}
}

// Send writes v as one line.
func (s *JSONStream) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.fw.Write(append(b, '\r', '\n'))
	return err
}
