package storage

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// progressInterval throttles byte-count reports, as dockerd's progress
// output does.
const progressInterval = 100 * time.Millisecond

// reporter serialises calls to a ProgressFunc (nil means discard).
type reporter struct {
	mu sync.Mutex
	fn ProgressFunc
}

func newReporter(fn ProgressFunc) *reporter { return &reporter{fn: fn} }

func (r *reporter) send(p Progress) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

func (r *reporter) layer(d digest.Digest, a ProgressAction) {
	r.send(Progress{ID: shortID(d), Action: a})
}

// shortID is Docker's 12-hex short form of a digest.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// meter reports Current/Total bytes of one transfer, at most every
// progressInterval, and always the final count.
type meter struct {
	rep    *reporter
	id     string
	action ProgressAction
	total  int64

	n        int64
	sentN    int64
	lastSent time.Time
}

func (m *meter) add(n int) {
	m.n += int64(n)
	if now := time.Now(); now.Sub(m.lastSent) >= progressInterval || (m.n >= m.total && m.sentN < m.total) {
		m.lastSent, m.sentN = now, m.n
		m.rep.send(Progress{ID: m.id, Action: m.action, Current: m.n, Total: m.total})
	}
}

// progressFetcher reports download progress of every blob it fetches.
type progressFetcher struct {
	remotes.Fetcher
	rep *reporter
}

func (f progressFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	m := &meter{rep: f.rep, id: shortID(desc.Digest), action: ProgressLayerDownloading, total: desc.Size}
	if sk, ok := rc.(io.ReadSeekCloser); ok {
		return &meteredSeeker{meteredReader{rc, m}, sk}, nil
	}
	return &meteredReader{rc, m}, nil
}

type meteredReader struct {
	io.ReadCloser
	m *meter
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.m.add(n)
	return n, err
}

// meteredSeeker keeps the fetcher's ability to resume a partial download.
type meteredSeeker struct {
	meteredReader
	sk io.Seeker
}

func (r *meteredSeeker) Seek(off int64, whence int) (int64, error) {
	pos, err := r.sk.Seek(off, whence)
	if err == nil {
		r.m.n = pos
	}
	return pos, err
}

// meteredWriter reports upload progress of a blob pushed to a registry.
type meteredWriter struct {
	content.Writer
	m        *meter
	onCommit func()
}

func (w *meteredWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	w.m.add(n)
	return n, err
}

func (w *meteredWriter) Commit(ctx context.Context, size int64, expected digest.Digest, opts ...content.Opt) error {
	err := w.Writer.Commit(ctx, size, expected, opts...)
	if err == nil || errdefs.IsAlreadyExists(err) {
		w.onCommit()
	}
	return err
}
