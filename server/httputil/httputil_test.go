package httputil

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
)

func TestStatusFromError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "not found", err: fmt.Errorf("x: %w", errdefs.ErrNotFound), want: 404},
		{name: "invalid", err: errdefs.ErrInvalidArgument.WithMessage("bad"), want: 400},
		{name: "conflict", err: errdefs.ErrConflict, want: 409},
		{name: "already exists", err: errdefs.ErrAlreadyExists, want: 409},
		{name: "not modified", err: errdefs.ErrNotModified, want: 304},
		{name: "unauthorized", err: errdefs.ErrUnauthenticated, want: 401},
		{name: "forbidden", err: errdefs.ErrPermissionDenied, want: 403},
		{name: "not implemented", err: errdefs.ErrNotImplemented, want: 501},
		{name: "unavailable", err: errdefs.ErrUnavailable, want: 503},
		{name: "other", err: fmt.Errorf("boom"), want: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, StatusFromError(tc.err), tc.want)
		})
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteError(rec, fmt.Errorf("Invalid container name (x): %w", errdefs.ErrInvalidArgument))
	assert.Equal(t, rec.Code, 400)
	// The docker client compares the header with ==.
	assert.Equal(t, rec.Header().Get("Content-Type"), "application/json")
	assert.Equal(t, rec.Body.String(), `{"message":"Invalid container name (x)"}`+"\n")

	rec = httptest.NewRecorder()
	WriteError(rec, errdefs.ErrNotModified)
	assert.Equal(t, rec.Code, http.StatusNotModified)
	assert.Equal(t, rec.Body.Len(), 0)
}

func TestParseFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]map[string]bool
		wantErr bool
	}{
		{name: "empty", in: "", want: map[string]map[string]bool{}},
		{name: "map form", in: `{"label":{"a=b":true,"c":true}}`, want: map[string]map[string]bool{"label": {"a=b": true, "c": true}}},
		{name: "list form", in: `{"label":["a=b","c"],"name":["x"]}`, want: map[string]map[string]bool{"label": {"a=b": true, "c": true}, "name": {"x": true}}},
		{name: "garbage", in: `{"label":`, wantErr: true},
		{name: "wrong type", in: `{"label":"x"}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFilters(tc.in)
			if tc.wantErr {
				assert.Assert(t, errdefs.IsInvalidArgument(err))
				return
			}
			assert.NilError(t, err)
			assert.DeepEqual(t, got, tc.want)
		})
	}
}
