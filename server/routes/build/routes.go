package build

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/log"

	"github.com/containerd/errdefs"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

type buildRouter struct {
	b  Backend
	bk BuildKit
}

// New returns the build router; bk serves /grpc and /session (nil: those
// answer 501, and clients fall back to the classic builder).
func New(b Backend, bk BuildKit) router.Router { return &buildRouter{b: b, bk: bk} }

func (br *buildRouter) Routes() []router.Route {
	return []router.Route{
		router.Post("/build", br.postBuild),
		router.Post("/build/prune", br.postBuildPrune),
		router.Post("/grpc", br.postGRPC),
		router.Post("/session", br.postSession),
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

// postGRPC upgrades the connection to h2c and serves BuildKit's control API
// on it: buildx's docker driver dials this for every build.
func (br *buildRouter) postGRPC(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	conn, err := br.upgradeH2C(w, r)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := conn.Context(context.WithoutCancel(ctx))
	defer cancel()
	br.bk.ServeGRPC(ctx, conn)
	return nil
}

// postSession upgrades the connection to h2c and runs the client's session
// on it (BuildKit calls back into it for the build context, secrets, SSH
// and registry auth); the X-Docker-Expose-Session-* headers describe it.
func (br *buildRouter) postSession(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	conn, err := br.upgradeH2C(w, r)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := conn.Context(context.WithoutCancel(ctx))
	defer cancel()
	if err := br.bk.HandleSession(ctx, conn, r.Header); err != nil {
		log.G(ctx).WithError(err).Debug("build session ended")
	}
	return nil
}

// upgradeH2C checks an h2c upgrade request and hijacks its connection.
func (br *buildRouter) upgradeH2C(w http.ResponseWriter, r *http.Request) (*stream.Conn, error) {
	if br.bk == nil {
		return nil, errdefs.ErrNotImplemented.WithMessage("BuildKit is not enabled on this daemon")
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
		return nil, errdefs.ErrInvalidArgument.WithMessage("only h2c upgrades are supported")
	}
	return stream.Hijack(w, r, "")
}

// postBuildPrune removes build cache (docker builder prune without buildx).
func (br *buildRouter) postBuildPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	opts := PruneOptions{All: httputil.BoolValue(r, "all")}
	var err error
	if opts.Filters, err = httputil.ParseFilters(r.Form.Get("filters")); err != nil {
		return err
	}
	for _, p := range []struct {
		keys []string
		dst  *int64
	}{
		{[]string{"reserved-space", "keep-storage"}, &opts.ReservedSpace},
		{[]string{"max-used-space"}, &opts.MaxUsedSpace},
		{[]string{"min-free-space"}, &opts.MinFreeSpace},
	} {
		for _, k := range p.keys {
			v := r.Form.Get(k)
			if v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s is in bytes and expects an integer, got %q", k, v))
			}
			*p.dst = n
			break
		}
	}
	rep, err := br.b.BuildCachePrune(ctx, opts)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}
