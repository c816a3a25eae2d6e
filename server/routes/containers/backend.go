// Package containers serves the /containers endpoints.
package containers

import (
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
)

// ListOptions are the parsed query of GET /containers/json.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters map[string]map[string]bool
}

// LogsOptions are the parsed query of GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Timestamps     bool
	Tail           string
	Since, Until   string
	Details        bool
}

// LogMessage is one entry of a log stream.
type LogMessage struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   []byte
}

// LogStream is a validated log request, run once headers are sent.
type LogStream struct {
	Tty bool
	Run func(ctx context.Context, emit func(LogMessage) error) error
}

// AttachConfig are the streams of an attach.
type AttachConfig struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Logs, Stream   bool
	DetachKeys     string
	// Ready answers the client; the backend calls it once it follows the
	// container's output (so nothing produced after it is lost).
	Ready func() error
}

// Backend is what the container routes need. Methods return containerd
// errdefs classes; Docker wording comes from compat. Feature groups live in
// their own files (exec.go, archive.go, observe.go).
type Backend interface {
	ExecBackend
	ArchiveBackend
	ObserveBackend

	ContainerCreate(ctx context.Context, name string, req *container.CreateRequest) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string) error
	ContainerStop(ctx context.Context, id, signal string, timeout *int) error
	ContainerRestart(ctx context.Context, id, signal string, timeout *int) error
	ContainerKill(ctx context.Context, id, signal string) error
	// ContainerWait registers synchronously; the channel yields once.
	ContainerWait(ctx context.Context, id, condition string) (<-chan container.WaitResponse, error)
	ContainerRemove(ctx context.Context, id string, force, volumes, link bool) error
	ContainerInspect(ctx context.Context, id string, size bool) (*container.InspectResponse, error)
	ContainerList(ctx context.Context, opts ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, id string, opts LogsOptions) (*LogStream, error)
	// ContainerAttachTTY validates an attach before the connection is
	// hijacked and reports whether the container has a TTY.
	ContainerAttachTTY(ctx context.Context, id string) (bool, error)
	// ContainerAttach blocks until the streams end.
	ContainerAttach(ctx context.Context, id string, cfg AttachConfig) error
	ContainerResize(ctx context.Context, id string, height, width uint) error
	ContainerRename(ctx context.Context, id, name string) error
	ContainerPause(ctx context.Context, id string) error
	ContainerUnpause(ctx context.Context, id string) error
	ContainerUpdate(ctx context.Context, id string, cfg *container.UpdateConfig) (container.UpdateResponse, error)
}
