// Package escape detects the detach key sequence (Ctrl-P Ctrl-Q by
// default) in a client's input stream.
package escape

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrDetached is returned by Reader.Read when the sequence was typed.
var ErrDetached = errors.New("detached from container")

// DefaultKeys is dockerd's default detach sequence.
var DefaultKeys = []byte{16, 17} // ctrl-p, ctrl-q

// ParseKeys reads dockerd's detach key syntax: comma-separated "ctrl-<x>"
// (x in a-z, @, [, \, ], ^, _) or single characters. Empty means default.
func ParseKeys(s string) ([]byte, error) {
	if s == "" {
		return DefaultKeys, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return nil, fmt.Errorf("invalid detach keys (%s) provided", s)
			}
		default:
			return nil, fmt.Errorf("invalid detach keys (%s) provided", s)
		}
	}
	return out, nil
}

// Reader passes input through until the key sequence appears; then Read
// returns ErrDetached. Bytes of a partial match that turns out not to be
// the sequence are passed on unchanged; nothing after the sequence is.
type Reader struct {
	r        io.Reader
	keys     []byte
	matched  int
	pending  []byte
	detached bool
	err      error
	buf      []byte
}

// NewReader wraps r.
func NewReader(r io.Reader, keys []byte) *Reader {
	return &Reader{r: r, keys: keys, buf: make([]byte, 32*1024)}
}

// Read implements io.Reader.
func (e *Reader) Read(p []byte) (int, error) {
	for {
		if len(e.pending) > 0 {
			n := copy(p, e.pending)
			e.pending = e.pending[n:]
			return n, nil
		}
		if e.detached {
			return 0, ErrDetached
		}
		if e.err != nil {
			if e.matched > 0 {
				e.pending = append(e.pending, e.keys[:e.matched]...)
				e.matched = 0
				continue
			}
			return 0, e.err
		}
		n, err := e.r.Read(e.buf)
		e.err = err
		for _, b := range e.buf[:n] {
			if e.detached {
				break
			}
			if b == e.keys[e.matched] {
				e.matched++
				if e.matched == len(e.keys) {
					e.detached, e.matched = true, 0
				}
				continue
			}
			if e.matched > 0 {
				e.pending = append(e.pending, e.keys[:e.matched]...)
				e.matched = 0
				if b == e.keys[0] {
					e.matched = 1
					continue
				}
			}
			e.pending = append(e.pending, b)
		}
	}
}
