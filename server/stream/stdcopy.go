package stream

import (
	"encoding/binary"
	"io"
	"sync"
)

// StdType is the stream id in a multiplexed frame header.
type StdType byte

// Stream ids of the multiplexed framing.
const (
	Stdin     StdType = 0
	Stdout    StdType = 1
	Stderr    StdType = 2
	Systemerr StdType = 3
)

// Muxer writes frames of several streams onto one writer; each frame is an
// 8-byte header [stream, 0, 0, 0, size (big endian uint32)] and the payload.
type Muxer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewMuxer returns a multiplexer writing to w.
func NewMuxer(w io.Writer) *Muxer { return &Muxer{w: w} }

// Writer returns an io.Writer framing everything as stream t.
func (m *Muxer) Writer(t StdType) io.Writer { return &muxWriter{m: m, t: t} }

type muxWriter struct {
	m *Muxer
	t StdType
}

func (w *muxWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [8]byte
	hdr[0] = byte(w.t)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if _, err := w.m.w.Write(hdr[:]); err != nil {
		return 0, err
	}
	n, err := w.m.w.Write(p)
	if f, ok := w.m.w.(interface{ Flush() }); ok {
		f.Flush()
	}
	return n, err
}

// LockedWriter serializes writes (raw TTY streams written from several
// goroutines).
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// Write writes p under the lock and flushes when possible.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.W.Write(p)
	if f, ok := l.W.(interface{ Flush() }); ok {
		f.Flush()
	}
	return n, err
}
