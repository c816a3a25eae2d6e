package volumes_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/server"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/routes/volumes"
)

// fakeBackend knows volume "v1" (used by container "c1") and records what
// the routes passed.
type fakeBackend struct {
	gotCreate  *volume.CreateRequest
	gotVersion string
	gotFilters map[string]map[string]bool
	gotForce   bool
}

func (f *fakeBackend) VolumeCreate(_ context.Context, req *volume.CreateRequest, v string) (*volume.Volume, error) {
	f.gotCreate, f.gotVersion = req, v
	if req.Name == "bad" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("create bad: nope")
	}
	return &volume.Volume{Name: req.Name, Driver: "local", Scope: "local"}, nil
}

func (f *fakeBackend) VolumeInspect(_ context.Context, name string) (*volume.Volume, error) {
	if name != "v1" {
		return nil, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	return &volume.Volume{Name: "v1", Driver: "local", Scope: "local"}, nil
}

func (f *fakeBackend) VolumeList(_ context.Context, filters map[string]map[string]bool) (*volume.ListResponse, error) {
	f.gotFilters = filters
	return &volume.ListResponse{Volumes: []volume.Volume{{Name: "v1"}}, Warnings: []string{}}, nil
}

func (f *fakeBackend) VolumeRemove(_ context.Context, name string, force bool) error {
	f.gotForce = force
	if name == "v1" {
		return errdefs.ErrConflict.WithMessage("remove v1: volume is in use - [c1]")
	}
	return nil
}

func (f *fakeBackend) VolumePrune(_ context.Context, filters map[string]map[string]bool, v string) (*volume.PruneReport, error) {
	f.gotFilters, f.gotVersion = filters, v
	return &volume.PruneReport{VolumesDeleted: []string{"a"}, SpaceReclaimed: 3}, nil
}

func newServer(b volumes.Backend) http.Handler {
	s := server.New(server.Config{Versions: middleware.Versions{Min: "1.24", Max: "1.56", ServerVersion: "28.5.2"}})
	s.Register(volumes.New(b))
	return s.Handler()
}

func do(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestVolumeRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		// inBody is a substring the response must hold.
		inBody string
	}{
		{name: "create", method: http.MethodPost, path: "/v1.44/volumes/create", body: `{"Name":"v2","Labels":{"a":"b"}}`, code: 201, inBody: `"Name":"v2"`},
		{name: "create refused", method: http.MethodPost, path: "/volumes/create", body: `{"Name":"bad"}`, code: 400, inBody: `{"message":"create bad: nope"}`},
		{name: "create bad json", method: http.MethodPost, path: "/volumes/create", body: `{"Name":`, code: 400},
		{name: "inspect", method: http.MethodGet, path: "/volumes/v1", code: 200, inBody: `"Name":"v1"`},
		{name: "inspect missing", method: http.MethodGet, path: "/volumes/nosuch", code: 404, inBody: `{"message":"get nosuch: no such volume"}`},
		{name: "inspect name with slash", method: http.MethodGet, path: "/volumes/a/b", code: 404, inBody: "no such volume"},
		{name: "list", method: http.MethodGet, path: "/volumes?filters=" + `%7B%22dangling%22%3A%5B%22true%22%5D%7D`, code: 200, inBody: `"Warnings":[]`},
		{name: "list bad filters", method: http.MethodGet, path: "/volumes?filters=%7B", code: 400},
		{name: "remove", method: http.MethodDelete, path: "/volumes/v2?force=1", code: 204},
		{name: "remove in use", method: http.MethodDelete, path: "/volumes/v1", code: 409, inBody: "volume is in use - [c1]"},
		{name: "prune", method: http.MethodPost, path: "/v1.41/volumes/prune", code: 200, inBody: `"SpaceReclaimed":3`},
		{name: "update", method: http.MethodPut, path: "/volumes/v1?version=1", body: `{}`, code: 503, inBody: "swarm is unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(newServer(&fakeBackend{}), tc.method, tc.path, tc.body)
			assert.Check(t, is.Equal(rec.Code, tc.code), rec.Body.String())
			if tc.code != 204 {
				assert.Check(t, is.Equal(rec.Header().Get("Content-Type"), "application/json"))
			}
			assert.Check(t, is.Contains(rec.Body.String(), tc.inBody))
		})
	}
}

// The routes hand the backend what it needs to apply per-version quirks
// and the parsed filters in either encoding.
func TestVolumeRoutesPassThrough(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	h := newServer(b)

	rec := do(h, http.MethodPost, "/v1.41/volumes/prune?filters="+`%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D`, "")
	assert.Assert(t, is.Equal(rec.Code, 200), rec.Body.String())
	assert.Check(t, is.Equal(b.gotVersion, "1.41"))
	assert.Check(t, is.DeepEqual(b.gotFilters, map[string]map[string]bool{"label": {"a=b": true}}))
	var rep volume.PruneReport
	assert.NilError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
	assert.Check(t, is.DeepEqual(rep.VolumesDeleted, []string{"a"}))

	rec = do(h, http.MethodGet, "/volumes?filters="+`%7B%22name%22%3A%5B%22x%22%5D%7D`, "")
	assert.Assert(t, is.Equal(rec.Code, 200), rec.Body.String())
	assert.Check(t, is.DeepEqual(b.gotFilters, map[string]map[string]bool{"name": {"x": true}}))

	rec = do(h, http.MethodPost, "/v1.44/volumes/create", `{"Name":"v2","Driver":"local","DriverOpts":{},"Labels":{"a":"b"}}`)
	assert.Assert(t, is.Equal(rec.Code, 201), rec.Body.String())
	assert.Check(t, is.Equal(b.gotVersion, "1.44"))
	assert.Check(t, is.DeepEqual(b.gotCreate.Labels, map[string]string{"a": "b"}))

	rec = do(h, http.MethodDelete, "/volumes/v2?force=true", "")
	assert.Check(t, is.Equal(rec.Code, 204))
	assert.Check(t, b.gotForce)
}
