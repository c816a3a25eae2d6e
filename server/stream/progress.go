package stream

import (
	"net/http"
	"sync"

	"github.com/hyperbox/hyperbox/server/httputil"
)

// LazyJSON is a JSON-lines stream whose 200 header is only sent with the
// first message, so an error that happens before any output can still be
// answered with its real status (pull of an unknown image is a 404).
type LazyJSON struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	s       *JSONStream
	started bool
}

// NewLazyJSON wraps w.
func NewLazyJSON(w http.ResponseWriter) *LazyJSON { return &LazyJSON{w: w} }

// Send writes one message, starting the stream if needed.
func (l *LazyJSON) Send(v any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.s = NewJSONStream(l.w)
		l.started = true
	}
	return l.s.Send(v)
}

// Started reports whether the header was sent.
func (l *LazyJSON) Started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started
}

// Finish ends the stream with err: as an HTTP error when nothing was sent
// yet, otherwise in-band as dockerd does ({"errorDetail":{...},"error":...}).
func (l *LazyJSON) Finish(err error) error {
	if err == nil {
		if !l.Started() {
			l.Send(nil)
		}
		return nil
	}
	if !l.Started() {
		return err
	}
	msg := httputil.ErrorMessage(err)
	_ = l.Send(map[string]any{"errorDetail": map[string]string{"message": msg}, "error": msg})
	return nil
}
