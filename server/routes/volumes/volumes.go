// Package volumes serves the /volumes endpoints.
package volumes

import (
	"context"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/router"
)

// Backend is what the volume routes need. Methods return containerd
// errdefs classes with Docker's wording; none of them blocks on more than
// the volume directories (prune walks each volume it removes to size it).
type Backend interface {
	// VolumeCreate creates a volume or returns the existing one by that
	// name. Errors: InvalidArgument (name, options), NotFound (driver),
	// NotImplemented (driver options), Unavailable (cluster volumes).
	VolumeCreate(ctx context.Context, req *volume.CreateRequest, apiVersion string) (*volume.Volume, error)
	// VolumeInspect errors: NotFound.
	VolumeInspect(ctx context.Context, name string) (*volume.Volume, error)
	// VolumeList errors: InvalidArgument (filters).
	VolumeList(ctx context.Context, filters map[string]map[string]bool) (*volume.ListResponse, error)
	// VolumeRemove errors: NotFound (unless force), Conflict (in use).
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumePrune removes unused volumes. Errors: InvalidArgument
	// (filters), Conflict (a prune is running).
	VolumePrune(ctx context.Context, filters map[string]map[string]bool, apiVersion string) (*volume.PruneReport, error)
}

type volumeRouter struct{ b Backend }

// New returns the volumes router.
func New(b Backend) router.Router { return &volumeRouter{b: b} }

func (v *volumeRouter) Routes() []router.Route {
	return []router.Route{
		router.Get("/volumes", v.getVolumesList),
		router.Post("/volumes/create", v.postVolumesCreate),
		router.Post("/volumes/prune", v.postVolumesPrune),
		// Names cannot hold '/', but the path may: such a name is a 404
		// "no such volume", not "page not found" (dockerd's {name:.*}).
		router.Get("/volumes/{name:.*}", v.getVolumeByName),
		router.Put("/volumes/{name:.*}", v.putVolumesUpdate),
		router.Delete("/volumes/{name:.*}", v.deleteVolumes),
	}
}

func (v *volumeRouter) getVolumesList(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	resp, err := v.b.VolumeList(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, resp)
}

func (v *volumeRouter) getVolumeByName(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	vol, err := v.b.VolumeInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, vol)
}

func (v *volumeRouter) postVolumesCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	var req volume.CreateRequest
	if err := httputil.ReadJSON(r, &req); err != nil {
		return err
	}
	vol, err := v.b.VolumeCreate(ctx, &req, httputil.VersionFromContext(ctx))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, vol)
}

// putVolumesUpdate is PUT /volumes/{name}, which only updates swarm
// cluster volumes; there is no swarm here (dockerd's 503 then).
func (v *volumeRouter) putVolumesUpdate(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
	return errdefs.ErrUnavailable.WithMessage("volume update only valid for cluster volumes, but swarm is unavailable")
}

func (v *volumeRouter) deleteVolumes(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	if err := v.b.VolumeRemove(ctx, vars["name"], httputil.BoolValue(r, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *volumeRouter) postVolumesPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	f, err := httputil.ParseFilters(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := v.b.VolumePrune(ctx, f, httputil.VersionFromContext(ctx))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}
