package build

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

type buildRouter struct{ b Backend }

// New returns the build router.
func New(b Backend) router.Router { return &buildRouter{b: b} }

func (br *buildRouter) Routes() []router.Route {
	return []router.Route{
		router.Post("/build", br.postBuild),
	}
}

// parseOptions reads the query the Go client sends: plain values and
// JSON-encoded ones (buildargs, labels; cachefrom=[], ulimits=null and the
// other JSON values are accepted and ignored). Pitfall: podman answered
// 400 to cachefrom=[] (containers/podman#15928).
func parseOptions(r *http.Request) (Options, error) {
	if err := httputil.ParseForm(r); err != nil {
		return Options{}, err
	}
	opts := Options{
		Tags:        r.Form["t"],
		Dockerfile:  r.Form.Get("dockerfile"),
		Target:      r.Form.Get("target"),
		NoCache:     httputil.BoolValue(r, "nocache"),
		Remove:      httputil.BoolValueOrDefault(r, "rm", true),
		ForceRemove: httputil.BoolValue(r, "forcerm"),
		Quiet:       httputil.BoolValue(r, "q"),
		Pull:        httputil.BoolValue(r, "pull"),
		Context:     r.Body,
	}
	if opts.ForceRemove {
		opts.Remove = true
	}
	if v := r.Form.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.BuildArgs); err != nil {
			return Options{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error reading build args: %v", err))
		}
	}
	if v := r.Form.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.Labels); err != nil {
			return Options{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error reading labels: %v", err))
		}
	}
	if r.Form.Get("remote") != "" {
		return Options{}, errdefs.ErrNotImplemented.WithMessage("remote build contexts are not supported by hyperboxd yet")
	}
	return opts, nil
}

func (br *buildRouter) postBuild(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	opts, err := parseOptions(r)
	if err != nil {
		return err
	}
	out := stream.NewLazyJSON(w)
	return out.Finish(br.b.Build(ctx, opts, out))
}
