package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	systemroutes "github.com/hyperbox/hyperbox/server/routes/system"
)

// SystemDiskUsage completes fakeSystem for GET /system/df (kept apart from
// server_test.go so each feature group adds its own fake methods): one
// image, one container, no volumes or build cache.
func (fakeSystem) SystemDiskUsage(_ context.Context, o systemroutes.DiskUsageOptions) (*systemroutes.DiskUsage, error) {
	du := &systemroutes.DiskUsage{}
	if o.Images {
		du.Images = &image.DiskUsage{TotalCount: 1, ActiveCount: 1, TotalSize: 100,
			Items: []image.Summary{{ID: "sha256:a", Size: 100, SharedSize: 0, Containers: 1}}}
	}
	if o.Containers {
		du.Containers = &container.DiskUsage{TotalCount: 1, TotalSize: 5, Reclaimable: 5,
			Items: []container.Summary{{ID: "c1", SizeRw: 5}}}
	}
	if o.Volumes {
		du.Volumes = &volume.DiskUsage{}
	}
	if o.BuildCache {
		du.BuildCache = &build.DiskUsage{}
	}
	return du, nil
}

// GET /system/df answers in the shape of the API version asked for.
func TestDiskUsageShapes(t *testing.T) {
	t.Parallel()
	h := newTestServer()
	cases := []struct {
		name     string
		path     string
		code     int
		keys     []string
		noKeys   []string
		imageKey string // a key every legacy image must have
	}{
		{name: "1.41: legacy with VirtualSize", path: "/v1.41/system/df", code: 200,
			keys: []string{"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}, noKeys: []string{"ImageUsage"}, imageKey: "VirtualSize"},
		{name: "1.44: type filter", path: "/v1.44/system/df?type=container", code: 200,
			keys: []string{"Containers"}, noKeys: []string{"Images", "LayersSize", "Volumes"}},
		{name: "1.51: legacy", path: "/v1.51/system/df", code: 200,
			keys: []string{"LayersSize", "Images", "Volumes", "BuildCache"}, noKeys: []string{"ImageUsage", "ContainerUsage"}, imageKey: "SharedSize"},
		{name: "1.52: both", path: "/v1.52/system/df", code: 200,
			keys: []string{"LayersSize", "Images", "ImageUsage", "ContainerUsage", "VolumeUsage", "BuildCacheUsage"}},
		{name: "1.52 verbose: new only", path: "/v1.52/system/df?verbose=1", code: 200,
			keys: []string{"ImageUsage", "ContainerUsage"}, noKeys: []string{"LayersSize", "Images", "Containers"}},
		{name: "bad type", path: "/v1.44/system/df?type=nosuch", code: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			assert.Assert(t, is.Equal(rec.Code, tc.code), rec.Body.String())
			var m map[string]json.RawMessage
			assert.NilError(t, json.Unmarshal(rec.Body.Bytes(), &m))
			for _, k := range tc.keys {
				_, ok := m[k]
				assert.Check(t, ok, "no %s in %s", k, rec.Body.String())
			}
			for _, k := range tc.noKeys {
				_, ok := m[k]
				assert.Check(t, !ok, "%s in %s", k, rec.Body.String())
			}
			if tc.imageKey != "" {
				var imgs []map[string]any
				assert.NilError(t, json.Unmarshal(m["Images"], &imgs))
				assert.Assert(t, is.Len(imgs, 1))
				_, ok := imgs[0][tc.imageKey]
				assert.Check(t, ok, "no %s in image %v", tc.imageKey, imgs[0])
			}
			if tc.path == "/v1.51/system/df" {
				var imgs []map[string]any
				assert.NilError(t, json.Unmarshal(m["Images"], &imgs))
				_, ok := imgs[0]["VirtualSize"]
				assert.Check(t, !ok, "VirtualSize is gone from API 1.44")
				assert.Check(t, is.Equal(string(m["Volumes"]), "[]"))
			}
			if tc.path == "/v1.52/system/df" {
				var iu map[string]any
				assert.NilError(t, json.Unmarshal(m["ImageUsage"], &iu))
				_, ok := iu["Items"]
				assert.Check(t, !ok, "items only with verbose: %v", iu)
			}
		})
	}
}
