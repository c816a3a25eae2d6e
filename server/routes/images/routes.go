package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
	"github.com/hyperbox/hyperbox/server/stream"
)

type imageRouter struct{ b Backend }

// New returns the images router.
func New(b Backend) router.Router { return &imageRouter{b: b} }

func (i *imageRouter) Routes() []router.Route {
	return []router.Route{
		router.Post("/images/create", i.postImagesCreate),
		router.Get("/images/json", i.getImagesJSON),
		router.Get("/images/get", i.getImagesGet),
		router.Post("/images/load", i.postImagesLoad),
		router.Post("/images/prune", i.postImagesPrune),
		router.Get("/images/{name:.*}/get", i.getImagesGet),
		router.Get("/images/{name:.*}/json", i.getImagesByName),
		router.Get("/images/{name:.*}/history", i.getImagesHistory),
		router.Post("/images/{name:.*}/tag", i.postImagesTag),
		router.Post("/images/{name:.*}/push", i.postImagesPush),
		router.Delete("/images/{name:.*}", i.deleteImages),
	}
}

// authFromHeader decodes X-Registry-Auth (base64url JSON). Like dockerd, a
// header that does not decode is treated as no credentials.
func authFromHeader(r *http.Request) *registry.AuthConfig {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	data, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if data, err = base64.RawURLEncoding.DecodeString(h); err != nil {
			if data, err = base64.StdEncoding.DecodeString(h); err != nil {
				return nil
			}
		}
	}
	var a registry.AuthConfig
	if json.Unmarshal(data, &a) != nil {
		return nil
	}
	return &a
}

func (i *imageRouter) postImagesCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	out := stream.NewLazyJSON(w)
	var err error
	switch {
	case r.Form.Get("fromImage") != "":
		err = i.b.ImagePull(ctx, PullOptions{
			FromImage: r.Form.Get("fromImage"), Tag: r.Form.Get("tag"),
			Platform: r.Form.Get("platform"), Auth: authFromHeader(r),
		}, out)
	case r.Form.Get("fromSrc") != "":
		err = i.b.ImageImport(ctx, ImportOptions{
			Source: r.Form.Get("fromSrc"), Repo: r.Form.Get("repo"), Tag: r.Form.Get("tag"),
			Message: r.Form.Get("message"), Platform: r.Form.Get("platform"),
			Changes: r.Form["changes"], Body: r.Body,
		}, out)
	default:
		return fmt.Errorf("fromImage or fromSrc is required: %w", errdefs.ErrInvalidArgument)
	}
	return out.Finish(err)
}

func (i *imageRouter) postImagesPush(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	auth := authFromHeader(r)
	out := stream.NewLazyJSON(w)
	return out.Finish(i.b.ImagePush(ctx, vars["name"], r.Form.Get("tag"), auth, out))
}

func (i *imageRouter) getImagesJSON(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// API < 1.25 also took ?filter=<reference>.
	if ref := r.Form.Get("filter"); ref != "" {
		if f["reference"] == nil {
			f["reference"] = map[string]bool{}
		}
		f["reference"][ref] = true
	}
	list, err := i.b.ImageList(ctx, httputil.BoolValue(r, "all"), f, httputil.BoolValue(r, "digests"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, list)
}

func (i *imageRouter) getImagesByName(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := i.b.ImageInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (i *imageRouter) getImagesHistory(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	resp, err := i.b.ImageHistory(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (i *imageRouter) postImagesTag(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	if err := i.b.ImageTag(ctx, vars["name"], r.Form.Get("repo"), r.Form.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (i *imageRouter) deleteImages(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("image name cannot be blank: %w", errdefs.ErrInvalidArgument)
	}
	resp, err := i.b.ImageDelete(ctx, name, httputil.BoolValue(r, "force"), httputil.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (i *imageRouter) postImagesLoad(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	out := stream.NewLazyJSON(w)
	return out.Finish(i.b.ImageLoad(ctx, r.Body, httputil.BoolValue(r, "quiet"), out))
}

func (i *imageRouter) getImagesGet(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	names := r.Form["names"]
	if n := vars["name"]; n != "" {
		names = []string{n}
	}
	if err := i.b.ImageSaveCheck(ctx, names); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	return i.b.ImageSave(ctx, names, stream.NewFlushWriter(w))
}

func (i *imageRouter) postImagesPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := i.b.ImagePrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}
