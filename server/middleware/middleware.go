// Package middleware wraps every route: API version negotiation, panic
// recovery and request logging.
package middleware

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/server/httputil"
)

// Middleware wraps a handler.
type Middleware func(httputil.APIFunc) httputil.APIFunc

// Versions are the API versions the daemon serves.
type Versions struct {
	Min, Max      string
	ServerVersion string
}

// CompareVersions compares dotted versions numerically: -1, 0 or 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Version checks the /vX.Y prefix against [Min, Max] with dockerd's
// messages, stores the effective version in the context (Max when the
// request has no prefix) and sets the headers dockerd puts on every reply.
func Version(v Versions) Middleware {
	return func(next httputil.APIFunc) httputil.APIFunc {
		return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
			w.Header().Set("Server", "Docker/"+v.ServerVersion+" (linux)")
			w.Header().Set("Api-Version", v.Max)
			w.Header().Set("Ostype", "linux")
			version := vars["version"]
			if version == "" {
				version = v.Max
			}
			if CompareVersions(version, v.Min) < 0 {
				return fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w", version, v.Min, errdefs.ErrInvalidArgument)
			}
			if CompareVersions(version, v.Max) > 0 {
				return fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w", version, v.Max, errdefs.ErrInvalidArgument)
			}
			return next(httputil.WithVersion(ctx, version), w, r, vars)
		}
	}
}

// Recover turns a panic in a handler into a 500 instead of a dead daemon.
func Recover(next httputil.APIFunc) httputil.APIFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.G(ctx).WithField("panic", p).Errorf("handler panic on %s %s\n%s", r.Method, r.URL.Path, debug.Stack())
				err = fmt.Errorf("internal error: %v", p)
			}
		}()
		return next(ctx, w, r, vars)
	}
}

// Log records each request at debug level (never the body: it may hold
// credentials) and failures at their level.
func Log(next httputil.APIFunc) httputil.APIFunc {
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
		log.G(ctx).Debugf("Calling %s %s", r.Method, r.URL.Path)
		err := next(ctx, w, r, vars)
		if err != nil {
			code := httputil.StatusFromError(err)
			entry := log.G(ctx).WithField("status", code).WithError(err)
			if code >= 500 {
				entry.Errorf("Handler for %s %s returned error", r.Method, r.URL.Path)
			} else {
				entry.Debugf("Handler for %s %s returned error", r.Method, r.URL.Path)
			}
		}
		return err
	}
}
