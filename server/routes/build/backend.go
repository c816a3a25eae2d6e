// Package build serves the classic builder's POST /build.
package build

import (
	"context"
	"io"
	"net"

	"github.com/moby/moby/api/types/build"
)

// Progress receives the build's JSON messages ({"stream":...},
// {"aux":...}, pull progress), dockerd's JSON message shape.
type Progress interface {
	Send(v any) error
}

// Options are the parsed query and body of POST /build.
type Options struct {
	// Tags are the repeated t= values.
	Tags []string
	// Dockerfile is the Dockerfile's path inside the context ("" means
	// "Dockerfile").
	Dockerfile string
	// BuildArgs are the buildargs JSON object (a nil value: take it from
	// the environment, which a daemon does not have: unset).
	BuildArgs map[string]*string
	// Labels are added to the final image.
	Labels map[string]string
	// Target is the stage to stop at ("" builds the last stage).
	Target                                    string
	NoCache, Remove, ForceRemove, Quiet, Pull bool
	// Context is the request body: a tar, possibly compressed.
	Context io.Reader
}

// Backend is what the build route needs.
type Backend interface {
	CacheBackend

	// Build runs the Dockerfile of opts.Context and streams its output to
	// out, blocking until the build ends. Errors before any output keep
	// their class (InvalidArgument for a bad Dockerfile or tag, NotFound
	// for a missing base image); later ones are reported in-band.
	Build(ctx context.Context, opts Options, out Progress) error
}

// BuildKit is the embedded BuildKit behind POST /grpc and POST /session.
type BuildKit interface {
	// ServeGRPC serves BuildKit's gRPC API over HTTP/2 on conn until the
	// client hangs up.
	ServeGRPC(ctx context.Context, conn net.Conn)
	// HandleSession runs the client session described by the request
	// headers meta on conn.
	HandleSession(ctx context.Context, conn net.Conn, meta map[string][]string) error
}

// PruneOptions are the query of POST /build/prune.
type PruneOptions struct {
	// All removes every unused record, not only the dangling ones.
	All bool
	// Filters are the filters JSON (until, id, parent, type,
	// description, inuse, shared, private).
	Filters map[string]map[string]bool
	// ReservedSpace (or the older keep-storage), MaxUsedSpace and
	// MinFreeSpace bound what is kept, in bytes (0: no bound).
	ReservedSpace, MaxUsedSpace, MinFreeSpace int64
}

// CacheBackend manages the build cache.
type CacheBackend interface {
	// BuildCachePrune removes build cache records. Errors:
	// InvalidArgument (a bad filter), NotImplemented (no BuildKit).
	BuildCachePrune(ctx context.Context, opts PruneOptions) (*build.CachePruneReport, error)
}
