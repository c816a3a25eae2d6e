package containers

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

// ExecStartConfig are the streams of an exec start.
type ExecStartConfig struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Detach         bool
	ConsoleSize    *[2]uint
}

// ExecBackend is what the exec routes need.
type ExecBackend interface {
	// ContainerExecCreate registers an exec. Errors: NotFound, Conflict.
	ContainerExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (container.ExecCreateResponse, error)
	// ContainerExecStartCheck validates a start before any hijack and
	// reports whether the exec has a TTY.
	ContainerExecStartCheck(ctx context.Context, execID string) (bool, error)
	// ContainerExecStart blocks until the process exits (unless detached).
	ContainerExecStart(ctx context.Context, execID string, cfg ExecStartConfig) error
	ContainerExecInspect(ctx context.Context, execID string) (*container.ExecInspectResponse, error)
	ContainerExecResize(ctx context.Context, execID string, height, width uint) error
}

func (c *containerRouter) execRoutes() []router.Route {
	return []router.Route{
		router.Post("/containers/{name:.*}/exec", c.postContainerExecCreate),
		router.Post("/exec/{name:.*}/start", c.postContainerExecStart),
		router.Post("/exec/{name:.*}/resize", c.postContainerExecResize),
		router.Get("/exec/{id:.*}/json", c.getExecByID),
	}
}

func (c *containerRouter) postContainerExecCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req container.ExecCreateRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return fmt.Errorf("No exec command specified: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := c.b.ContainerExecCreate(ctx, vars["name"], &req)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, resp)
}

// postContainerExecStart hijacks the connection unless Detach is set;
// dockerd hijacks even without an Upgrade header (raw 200 then).
func (c *containerRouter) postContainerExecStart(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var req container.ExecStartRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	id := vars["name"]
	tty, err := c.b.ContainerExecStartCheck(ctx, id)
	if err != nil {
		return err
	}
	if req.Detach {
		if err := c.b.ContainerExecStart(ctx, id, ExecStartConfig{Detach: true}); err != nil {
			return err
		}
		return httputil.WriteJSON(w, http.StatusOK, struct{}{})
	}
	ct := stream.MediaTypeMultiplexedStream
	if tty {
		ct = stream.MediaTypeRawStream
	}
	conn, err := stream.Hijack(w, r, ct)
	if err != nil {
		return err
	}
	defer conn.Close()
	cfg := ExecStartConfig{Stdin: conn, ConsoleSize: req.ConsoleSize}
	if tty {
		cfg.Stdout = &stream.LockedWriter{W: conn}
	} else {
		mux := stream.NewMuxer(conn)
		cfg.Stdout, cfg.Stderr = mux.Writer(stream.Stdout), mux.Writer(stream.Stderr)
	}
	if err := c.b.ContainerExecStart(context.WithoutCancel(ctx), id, cfg); err != nil {
		// Headers are sent: report in-band, as dockerd does.
		fmt.Fprintf(cfg.Stdout, "%s\r\n", httputil.ErrorMessage(err))
		log.G(ctx).WithError(err).Debug("exec start failed")
	}
	return nil
}

func (c *containerRouter) postContainerExecResize(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	h, wd, err := resizeArgs(r)
	if err != nil {
		return err
	}
	if err := c.b.ContainerExecResize(ctx, vars["name"], h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *containerRouter) getExecByID(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := c.b.ContainerExecInspect(ctx, vars["id"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}
