package containers

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/containerd/log"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

// StatsOptions are the parsed query of GET /containers/{id}/stats.
type StatsOptions struct {
	// Stream sends a record every second until the client hangs up.
	Stream bool
	// OneShot (API 1.41+, no stream) takes one sample at once instead of
	// two a second apart, leaving PreRead and PreCPUStats empty.
	OneShot bool
}

// StatsStream is a validated stats request, run once it is known to be
// answerable.
type StatsStream struct {
	// Run calls emit with each record: once without Stream, else every
	// second until ctx ends, the container is removed or emit fails.
	Run func(ctx context.Context, emit func(*container.StatsResponse) error) error
}

// ObserveBackend is what the observing routes need: top, stats, prune.
type ObserveBackend interface {
	// ContainerTop runs ps with psArgs ("" = "-ef") and keeps the
	// container's processes. It blocks on ps. Errors: NotFound, Conflict
	// (not running), unclassified (500) when ps fails.
	ContainerTop(ctx context.Context, id, psArgs string) (*container.TopResponse, error)
	// ContainerStats validates a stats request without blocking.
	// Errors: NotFound.
	ContainerStats(ctx context.Context, id string, opts StatsOptions) (*StatsStream, error)
	// ContainerPrune removes the stopped containers that match the filters
	// (until, label, label!). It blocks on the removals.
	// Errors: InvalidArgument (filters), Conflict (a prune is running).
	ContainerPrune(ctx context.Context, filters map[string]map[string]bool) (*container.PruneReport, error)
}

func (c *containerRouter) observeRoutes() []router.Route {
	return []router.Route{
		router.Get("/containers/{name:.*}/top", c.getContainersTop),
		router.Get("/containers/{name:.*}/stats", c.getContainersStats),
		router.Post("/containers/prune", c.postContainersPrune),
	}
}

func (c *containerRouter) getContainersTop(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	resp, err := c.b.ContainerTop(ctx, vars["name"], r.Form.Get("ps_args"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

// getContainersStats answers with one record, or streams one complete JSON
// record per line, each flushed by itself (clients decode as they read).
func (c *containerRouter) getContainersStats(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	opts := StatsOptions{Stream: httputil.BoolValueOrDefault(r, "stream", true)}
	// one-shot exists since API 1.41. dockerd before 29 refused it together
	// with stream=true (400); current dockerd ignores it when streaming,
	// and so do we.
	if middleware.CompareVersions(httputil.VersionFromContext(ctx), "1.41") >= 0 {
		opts.OneShot = httputil.BoolValueOrDefault(r, "one-shot", false)
	}
	st, err := c.b.ContainerStats(ctx, vars["name"], opts)
	if err != nil {
		return err
	}
	if !opts.Stream {
		var rec *container.StatsResponse
		if err := st.Run(ctx, func(s *container.StatsResponse) error { rec = s; return nil }); err != nil {
			return err
		}
		if rec == nil { // the client went away
			return nil
		}
		return httputil.WriteJSON(w, http.StatusOK, rec)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fw := stream.NewFlushWriter(w)
	fw.Flush()
	err = st.Run(ctx, func(s *container.StatsResponse) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		_, err = fw.Write(append(b, '\n'))
		return err
	})
	if err != nil && ctx.Err() == nil {
		log.G(ctx).WithError(err).Debug("stats stream ended with error")
	}
	return nil
}

func (c *containerRouter) postContainersPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := c.b.ContainerPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}
