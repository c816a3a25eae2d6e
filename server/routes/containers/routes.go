package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

type containerRouter struct{ b Backend }

// New returns the containers router.
func New(b Backend) router.Router { return &containerRouter{b: b} }

func (c *containerRouter) Routes() []router.Route {
	rs := append(c.execRoutes(), c.archiveRoutes()...)
	rs = append(rs, c.observeRoutes()...)
	return append(rs, c.lifecycleRoutes()...)
}

func (c *containerRouter) lifecycleRoutes() []router.Route {
	return []router.Route{
		router.Post("/containers/create", c.postContainersCreate),
		router.Get("/containers/json", c.getContainersJSON),
		router.Get("/containers/{name:.*}/json", c.getContainersByName),
		router.Get("/containers/{name:.*}/logs", c.getContainersLogs),
		router.Post("/containers/{name:.*}/start", c.postContainersStart),
		router.Post("/containers/{name:.*}/stop", c.postContainersStop),
		router.Post("/containers/{name:.*}/restart", c.postContainersRestart),
		router.Post("/containers/{name:.*}/kill", c.postContainersKill),
		router.Post("/containers/{name:.*}/wait", c.postContainersWait),
		router.Post("/containers/{name:.*}/attach", c.postContainersAttach),
		router.Post("/containers/{name:.*}/resize", c.postContainersResize),
		router.Post("/containers/{name:.*}/rename", c.postContainersRename),
		router.Post("/containers/{name:.*}/pause", c.postContainersPause),
		router.Post("/containers/{name:.*}/unpause", c.postContainersUnpause),
		router.Post("/containers/{name:.*}/update", c.postContainersUpdate),
		router.Delete("/containers/{name:.*}", c.deleteContainers),
	}
}

func (c *containerRouter) postContainersCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	var req container.CreateRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.Config == nil {
		return fmt.Errorf("config cannot be empty in order to create a container: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := c.b.ContainerCreate(ctx, r.Form.Get("name"), &req)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, resp)
}

func (c *containerRouter) getContainersJSON(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	opts := ListOptions{All: httputil.BoolValue(r, "all"), Size: httputil.BoolValue(r, "size"), Filters: f}
	if l := r.Form.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return fmt.Errorf("invalid limit %q: %w", l, errdefs.ErrInvalidArgument)
		}
		opts.Limit = n
	}
	list, err := c.b.ContainerList(ctx, opts)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, list)
}

func (c *containerRouter) getContainersByName(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	resp, err := c.b.ContainerInspect(ctx, vars["name"], httputil.BoolValue(r, "size"))
	if err != nil {
		return err
	}
	if middleware.CompareVersions(httputil.VersionFromContext(ctx), "1.52") < 0 {
		old, err := legacyInspect(resp)
		if err != nil {
			return err
		}
		return httputil.WriteJSON(w, http.StatusOK, old)
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (c *containerRouter) postContainersStart(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := c.b.ContainerStart(ctx, vars["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stopArgs parses ?t= and ?signal= (signal since API 1.42).
func stopArgs(r *http.Request) (string, *int, error) {
	if err := httputil.ParseForm(r); err != nil {
		return "", nil, err
	}
	var timeout *int
	if t := r.Form.Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return "", nil, fmt.Errorf("invalid value for t: %q: %w", t, errdefs.ErrInvalidArgument)
		}
		timeout = &n
	}
	return r.Form.Get("signal"), timeout, nil
}

func (c *containerRouter) postContainersStop(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	sig, timeout, err := stopArgs(r)
	if err != nil {
		return err
	}
	if err := c.b.ContainerStop(ctx, vars["name"], sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersRestart(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	sig, timeout, err := stopArgs(r)
	if err != nil {
		return err
	}
	if err := c.b.ContainerRestart(ctx, vars["name"], sig, timeout); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersKill(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	if err := c.b.ContainerKill(ctx, vars["name"], r.Form.Get("signal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// postContainersWait sends and flushes the 200 header before blocking:
// `docker run` waits for it before it starts the container.
func (c *containerRouter) postContainersWait(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	ch, err := c.b.ContainerWait(ctx, vars["name"], r.Form.Get("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := stream.NewFlushWriter(w)
	fw.Flush()
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil
		}
		return json.NewEncoder(fw).Encode(resp)
	case <-ctx.Done():
		return nil
	}
}

func (c *containerRouter) deleteContainers(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	err := c.b.ContainerRemove(ctx, vars["name"], httputil.BoolValue(r, "force"), httputil.BoolValue(r, "v"), httputil.BoolValue(r, "link"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersResize(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	h, wd, err := resizeArgs(r)
	if err != nil {
		return err
	}
	if err := c.b.ContainerResize(ctx, vars["name"], h, wd); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *containerRouter) postContainersRename(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	if err := c.b.ContainerRename(ctx, vars["name"], r.Form.Get("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersPause(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := c.b.ContainerPause(ctx, vars["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersUnpause(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := c.b.ContainerUnpause(ctx, vars["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *containerRouter) postContainersUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var cfg container.UpdateConfig
	if err := httputil.ReadJSON(r, &cfg); err != nil {
		return err
	}
	resp, err := c.b.ContainerUpdate(ctx, vars["name"], &cfg)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

// resizeArgs reads ?h= and ?w= of the resize endpoints.
func resizeArgs(r *http.Request) (uint, uint, error) {
	if err := httputil.ParseForm(r); err != nil {
		return 0, 0, err
	}
	h, err := strconv.ParseUint(r.Form.Get("h"), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid resize height %q: %w", r.Form.Get("h"), errdefs.ErrInvalidArgument)
	}
	w, err := strconv.ParseUint(r.Form.Get("w"), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid resize width %q: %w", r.Form.Get("w"), errdefs.ErrInvalidArgument)
	}
	return uint(h), uint(w), nil
}
