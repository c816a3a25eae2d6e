package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/router"
)

// DiskUsageOptions say which object types GET /system/df asks about.
type DiskUsageOptions struct {
	Containers, Images, Volumes, BuildCache bool
}

// DiskUsage is the usage of each requested object type (nil when not
// requested), with its items.
type DiskUsage struct {
	Images     *image.DiskUsage
	Containers *container.DiskUsage
	Volumes    *volume.DiskUsage
	BuildCache *build.DiskUsage
}

// DiskUsageBackend is what GET /system/df needs.
type DiskUsageBackend interface {
	// SystemDiskUsage computes the totals and items of the requested types.
	// It blocks on a snapshot usage walk per container and an image history
	// read per image.
	SystemDiskUsage(ctx context.Context, opts DiskUsageOptions) (*DiskUsage, error)
}

func (s *systemRouter) diskUsageRoutes() []router.Route {
	return []router.Route{router.Get("/system/df", s.getDiskUsage)}
}

// legacyDiskUsage is the response shape of API < 1.52; from 1.52 it is
// still sent next to the new one unless the client says verbose.
type legacyDiskUsage struct {
	LayersSize int64               `json:"LayersSize,omitempty"`
	Images     []json.RawMessage   `json:"Images,omitzero"`
	Containers []container.Summary `json:"Containers,omitzero"`
	Volumes    []volume.Volume     `json:"Volumes,omitzero"`
	BuildCache []build.CacheRecord `json:"BuildCache,omitzero"`
}

// diskUsage is the API 1.52+ shape.
type diskUsage struct {
	*legacyDiskUsage
	ImageUsage      *image.DiskUsage     `json:"ImageUsage,omitempty"`
	ContainerUsage  *container.DiskUsage `json:"ContainerUsage,omitempty"`
	VolumeUsage     *volume.DiskUsage    `json:"VolumeUsage,omitempty"`
	BuildCacheUsage *build.DiskUsage     `json:"BuildCacheUsage,omitempty"`
}

func (s *systemRouter) getDiskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	version := httputil.VersionFromContext(ctx)
	opts, err := diskUsageTypes(version, r.Form["type"])
	if err != nil {
		return err
	}
	du, err := s.b.SystemDiskUsage(ctx, opts)
	if err != nil {
		return err
	}
	// API 1.52 moved to per-type objects; it keeps the old fields too
	// unless the client opts in with verbose (moby's FIXME: drop them in 1.53).
	before152 := middleware.CompareVersions(version, "1.52") < 0
	verbose := !before152 && httputil.BoolValue(r, "verbose")
	var legacy *legacyDiskUsage
	if !verbose {
		if legacy, err = legacyShape(du, version); err != nil {
			return err
		}
	}
	if before152 {
		return httputil.WriteJSON(w, http.StatusOK, legacy)
	}
	if !verbose {
		// The items are in the legacy fields; the new objects carry totals.
		du = withoutItems(du)
	}
	return httputil.WriteJSON(w, http.StatusOK, &diskUsage{
		legacyDiskUsage: legacy,
		ImageUsage:      du.Images, ContainerUsage: du.Containers,
		VolumeUsage: du.Volumes, BuildCacheUsage: du.BuildCache,
	})
}

// diskUsageTypes reads ?type= (API 1.42+); no type means all.
func diskUsageTypes(version string, types []string) (DiskUsageOptions, error) {
	if len(types) == 0 || middleware.CompareVersions(version, "1.42") < 0 {
		return DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true}, nil
	}
	var o DiskUsageOptions
	for _, t := range types {
		switch t {
		case "container":
			o.Containers = true
		case "image":
			o.Images = true
		case "volume":
			o.Volumes = true
		case "build-cache":
			o.BuildCache = true
		default:
			return o, fmt.Errorf("unknown object type: %s: %w", t, errdefs.ErrInvalidArgument)
		}
	}
	return o, nil
}

// legacyShape fills the fields of API < 1.52: lists are never null for the
// requested types; below 1.44 images also carry VirtualSize (= Size).
func legacyShape(du *DiskUsage, version string) (*legacyDiskUsage, error) {
	l := &legacyDiskUsage{}
	if du.Images != nil {
		l.LayersSize = du.Images.TotalSize
		l.Images = []json.RawMessage{}
		for _, img := range du.Images.Items {
			b, err := imageJSON(img, middleware.CompareVersions(version, "1.44") < 0)
			if err != nil {
				return nil, err
			}
			l.Images = append(l.Images, b)
		}
	}
	if du.Containers != nil {
		l.Containers = append([]container.Summary{}, du.Containers.Items...)
	}
	if du.Volumes != nil {
		l.Volumes = append([]volume.Volume{}, du.Volumes.Items...)
	}
	if du.BuildCache != nil {
		l.BuildCache = append([]build.CacheRecord{}, du.BuildCache.Items...)
	}
	return l, nil
}

func imageJSON(img image.Summary, virtualSize bool) (json.RawMessage, error) {
	b, err := json.Marshal(img)
	if err != nil || !virtualSize {
		return b, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["VirtualSize"] = img.Size
	return json.Marshal(m)
}

func withoutItems(du *DiskUsage) *DiskUsage {
	out := &DiskUsage{}
	if du.Images != nil {
		c := *du.Images
		c.Items = nil
		out.Images = &c
	}
	if du.Containers != nil {
		c := *du.Containers
		c.Items = nil
		out.Containers = &c
	}
	if du.Volumes != nil {
		c := *du.Volumes
		c.Items = nil
		out.Volumes = &c
	}
	if du.BuildCache != nil {
		c := *du.BuildCache
		c.Items = nil
		out.BuildCache = &c
	}
	return out
}
