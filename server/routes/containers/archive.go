package containers

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
)

// ExtractOptions are the query of PUT /containers/{id}/archive.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID owns the files by the container's user.
	CopyUIDGID bool
}

// CommitOptions are the query (and optional Config body) of POST /commit.
type CommitOptions struct {
	Container string
	Repo, Tag string
	Author    string
	Comment   string
	// Pause freezes a running container while it is committed (default).
	Pause bool
	// Changes are Dockerfile instructions applied to the config.
	Changes []string
	// Config, when the client sent one, replaces the container's config
	// as the base the changes apply to.
	Config *container.Config
}

// ArchiveBackend is what the files routes need: archive GET/HEAD/PUT,
// export, changes, commit. Methods return errdefs classes with Docker's
// wording (compat).
type ArchiveBackend interface {
	// ContainerStatPath describes path in the container. Errors:
	// NotFound (container or path).
	ContainerStatPath(ctx context.Context, name, path string) (*container.PathStat, error)
	// ContainerArchivePath checks the request, then calls start with the
	// path's stat and writes a tar of it to the writer start returns. It
	// returns once the archive is written. Errors returned before start
	// was called are the request's (NotFound); later ones end the stream.
	ContainerArchivePath(ctx context.Context, name, path string, start func(*container.PathStat) (io.Writer, error)) error
	// ContainerExtractToDir extracts the tar (plain or compressed) in
	// content into the directory path, blocking until it is consumed.
	// Errors: NotFound, InvalidArgument (not a directory, read-only root
	// filesystem).
	ContainerExtractToDir(ctx context.Context, name, path string, opts ExtractOptions, content io.Reader) error
	// ContainerExport calls start, then writes a tar of the container's
	// root filesystem to the writer it returns. Errors: NotFound,
	// Conflict (being removed).
	ContainerExport(ctx context.Context, name string, start func() (io.Writer, error)) error
	// ContainerChanges lists the container's filesystem changes.
	// Errors: NotFound.
	ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error)
	// ContainerCommit creates an image from a container and returns its
	// ID ("sha256:..."). It blocks while the layer is written. Errors:
	// NotFound, InvalidArgument (reference, changes), Conflict.
	ContainerCommit(ctx context.Context, opts CommitOptions) (string, error)
}

func (c *containerRouter) archiveRoutes() []router.Route {
	return []router.Route{
		router.Head("/containers/{name:.*}/archive", c.headContainersArchive),
		router.Get("/containers/{name:.*}/archive", c.getContainersArchive),
		router.Put("/containers/{name:.*}/archive", c.putContainersArchive),
		router.Get("/containers/{name:.*}/export", c.getContainersExport),
		router.Get("/containers/{name:.*}/changes", c.getContainersChanges),
		router.Post("/commit", c.postCommit),
	}
}

// pathStatHeader carries the stat of an archive's path.
const pathStatHeader = "X-Docker-Container-Path-Stat"

// encodePathStat is the header value: base64 (standard encoding) of the
// stat's JSON, whose mode is Go's os.FileMode bits.
func encodePathStat(st *container.PathStat) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// archiveArgs reads the container name and the required path query.
func archiveArgs(r *http.Request, vars map[string]string) (string, string, error) {
	if err := httputil.ParseForm(r); err != nil {
		return "", "", err
	}
	if vars["name"] == "" {
		return "", "", fmt.Errorf("bad parameter: name cannot be empty: %w", errdefs.ErrInvalidArgument)
	}
	p := r.Form.Get("path")
	if p == "" {
		return "", "", fmt.Errorf("bad parameter: path cannot be empty: %w", errdefs.ErrInvalidArgument)
	}
	return vars["name"], p, nil
}

func (c *containerRouter) headContainersArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	name, p, err := archiveArgs(r, vars)
	if err != nil {
		return err
	}
	st, err := c.b.ContainerStatPath(ctx, name, p)
	if err != nil {
		return err
	}
	v, err := encodePathStat(st)
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, v)
	w.WriteHeader(http.StatusOK)
	return nil
}

// getContainersArchive streams the tar, gzip or deflate compressed when
// the client accepts it (as dockerd does; Go clients decompress
// transparently).
func (c *containerRouter) getContainersArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	name, p, err := archiveArgs(r, vars)
	if err != nil {
		return err
	}
	var cw io.WriteCloser
	started := false
	err = c.b.ContainerArchivePath(ctx, name, p, func(st *container.PathStat) (io.Writer, error) {
		v, err := encodePathStat(st)
		if err != nil {
			return nil, err
		}
		w.Header().Set(pathStatHeader, v)
		w.Header().Set("Content-Type", "application/x-tar")
		cw = compressWriter(w, r)
		w.WriteHeader(http.StatusOK)
		started = true
		return cw, nil
	})
	if !started {
		return err
	}
	if cerr := cw.Close(); err == nil {
		err = cerr
	}
	if err != nil && ctx.Err() == nil {
		log.G(ctx).WithError(err).Debug("archive stream ended with error")
	}
	return nil
}

// compressWriter negotiates Content-Encoding (gzip or deflate) and sets
// the header; the returned writer must be closed.
func compressWriter(w http.ResponseWriter, r *http.Request) io.WriteCloser {
	switch negotiateEncoding(r.Header.Values("Accept-Encoding")) {
	case "gzip":
		w.Header().Set("Content-Encoding", "gzip")
		return gzip.NewWriter(w)
	case "deflate":
		if fw, err := flate.NewWriter(w, flate.DefaultCompression); err == nil {
			w.Header().Set("Content-Encoding", "deflate")
			return fw
		}
	}
	return nopCloser{w}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// negotiateEncoding picks "gzip" or "deflate" (gzip on a tie) by the
// client's q-values, or "" for none.
func negotiateEncoding(values []string) string {
	q := map[string]float64{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			weight := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					weight = f
				}
			}
			if coding != "" {
				q[coding] = weight
			}
		}
	}
	best, bestQ := "", 0.0
	for _, coding := range []string{"gzip", "deflate"} {
		w, ok := q[coding]
		if !ok {
			w, ok = q["*"]
		}
		if ok && w > bestQ {
			best, bestQ = coding, w
		}
	}
	return best
}

func (c *containerRouter) putContainersArchive(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	name, p, err := archiveArgs(r, vars)
	if err != nil {
		return err
	}
	opts := ExtractOptions{
		NoOverwriteDirNonDir: r.Form.Has("noOverwriteDirNonDir") && httputil.BoolValue(r, "noOverwriteDirNonDir"),
		CopyUIDGID:           httputil.BoolValue(r, "copyUIDGID"),
	}
	if err := c.b.ContainerExtractToDir(ctx, name, p, opts, r.Body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *containerRouter) getContainersExport(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	started := false
	err := c.b.ContainerExport(ctx, vars["name"], func() (io.Writer, error) {
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		started = true
		return w, nil
	})
	if !started {
		return err
	}
	if err != nil && ctx.Err() == nil {
		log.G(ctx).WithError(err).Debug("export stream ended with error")
	}
	return nil
}

func (c *containerRouter) getContainersChanges(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	changes, err := c.b.ContainerChanges(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, changes)
}

// postCommit answers POST /commit; the body is an optional container
// Config (the CLI sends null).
func (c *containerRouter) postCommit(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	var cfg *container.Config
	if err := httputil.ReadJSON(r, &cfg); err != nil {
		return err
	}
	opts := CommitOptions{
		Container: r.Form.Get("container"),
		Repo:      r.Form.Get("repo"),
		Tag:       r.Form.Get("tag"),
		Author:    r.Form.Get("author"),
		Comment:   r.Form.Get("comment"),
		// pause defaults to true; only an explicit false disables it.
		Pause:   !r.Form.Has("pause") || httputil.BoolValue(r, "pause"),
		Changes: r.Form["changes"],
		Config:  cfg,
	}
	id, err := c.b.ContainerCommit(ctx, opts)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}
