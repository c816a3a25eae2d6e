package containers

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/server/httputil"
)

func TestEncodePathStat(t *testing.T) {
	t.Parallel()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name string
		st   container.PathStat
		want string
	}{
		{name: "directory", st: container.PathStat{Name: "etc", Size: 4096, Mode: os.ModeDir | 0o755, Mtime: mtime},
			want: `{"name":"etc","size":4096,"mode":2147484141,"mtime":"2024-05-06T07:08:09Z","linkTarget":""}`},
		{name: "symlink", st: container.PathStat{Name: "etcl", Size: 4, Mode: os.ModeSymlink | 0o777, Mtime: mtime, LinkTarget: "/etc"},
			want: `{"name":"etcl","size":4,"mode":134218239,"mtime":"2024-05-06T07:08:09Z","linkTarget":"/etc"}`},
		{name: "setuid file", st: container.PathStat{Name: "su", Size: 1, Mode: os.ModeSetuid | 0o755, Mtime: mtime},
			want: `{"name":"su","size":1,"mode":8389101,"mtime":"2024-05-06T07:08:09Z","linkTarget":""}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := encodePathStat(&tc.st)
			assert.NilError(t, err)
			raw, err := base64.StdEncoding.DecodeString(v)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(string(raw), tc.want))
			var back container.PathStat
			assert.NilError(t, json.Unmarshal(raw, &back))
			assert.Check(t, is.Equal(back.Mode, tc.st.Mode))
		})
	}
}

func TestNegotiateEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"gzip"}, "gzip"},
		{[]string{"deflate, gzip;q=0.5"}, "deflate"},
		{[]string{"gzip;q=0, deflate;q=0"}, ""},
		{[]string{"br", "*"}, "gzip"},
		{[]string{"identity"}, ""},
	}
	for _, tc := range tests {
		assert.Check(t, is.Equal(negotiateEncoding(tc.in), tc.want), "%q", tc.in)
	}
}

// fakeArchive implements the archive routes' backend; the rest of Backend
// is left nil (never called).
type fakeArchive struct {
	Backend
	stat      container.PathStat
	extract   ExtractOptions
	extracted string
	commit    CommitOptions
}

func (f *fakeArchive) ContainerStatPath(_ context.Context, name, p string) (*container.PathStat, error) {
	if p == "/nope" {
		return nil, errdefs.ErrNotFound.WithMessage("Could not find the file /nope in container " + name)
	}
	st := f.stat
	return &st, nil
}

func (f *fakeArchive) ContainerArchivePath(ctx context.Context, name, p string, start func(*container.PathStat) (io.Writer, error)) error {
	st, err := f.ContainerStatPath(ctx, name, p)
	if err != nil {
		return err
	}
	w, err := start(st)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "tar bytes")
	return err
}

func (f *fakeArchive) ContainerExtractToDir(_ context.Context, _, _ string, opts ExtractOptions, content io.Reader) error {
	f.extract = opts
	b, err := io.ReadAll(content)
	f.extracted = string(b)
	return err
}

func (f *fakeArchive) ContainerCommit(_ context.Context, opts CommitOptions) (string, error) {
	f.commit = opts
	return "sha256:abc", nil
}

// serve runs one request through the route's handler as the server does.
func serve(t *testing.T, h httputil.APIFunc, r *http.Request, vars map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h(r.Context(), w, r, vars); err != nil {
		httputil.WriteError(w, err)
	}
	return w
}

func TestArchiveHandlers(t *testing.T) {
	t.Parallel()
	f := &fakeArchive{stat: container.PathStat{Name: "etc", Mode: os.ModeDir | 0o755}}
	c := &containerRouter{b: f}
	vars := map[string]string{"name": "web"}

	w := serve(t, c.headContainersArchive, httptest.NewRequest(http.MethodHead, "/containers/web/archive?path=/etc", nil), vars)
	assert.Check(t, is.Equal(w.Code, http.StatusOK))
	want, _ := encodePathStat(&f.stat)
	assert.Check(t, is.Equal(w.Header().Get("X-Docker-Container-Path-Stat"), want))

	w = serve(t, c.headContainersArchive, httptest.NewRequest(http.MethodHead, "/containers/web/archive?path=/nope", nil), vars)
	assert.Check(t, is.Equal(w.Code, http.StatusNotFound))
	w = serve(t, c.getContainersArchive, httptest.NewRequest(http.MethodGet, "/containers/web/archive", nil), vars)
	assert.Check(t, is.Equal(w.Code, http.StatusBadRequest))
	assert.Check(t, is.Contains(w.Body.String(), "bad parameter: path cannot be empty"))

	r := httptest.NewRequest(http.MethodGet, "/containers/web/archive?path=/etc", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w = serve(t, c.getContainersArchive, r, vars)
	assert.Check(t, is.Equal(w.Code, http.StatusOK))
	assert.Check(t, is.Equal(w.Header().Get("Content-Type"), "application/x-tar"))
	assert.Check(t, is.Equal(w.Header().Get("Content-Encoding"), "gzip"))
	assert.Check(t, is.Equal(w.Header().Get("X-Docker-Container-Path-Stat"), want))
	gz, err := gzip.NewReader(w.Body)
	assert.NilError(t, err)
	b, err := io.ReadAll(gz)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "tar bytes"))

	r = httptest.NewRequest(http.MethodPut, "/containers/web/archive?path=/tmp&noOverwriteDirNonDir=true&copyUIDGID=1", strings.NewReader("body"))
	w = serve(t, c.putContainersArchive, r, vars)
	assert.Check(t, is.Equal(w.Code, http.StatusOK))
	assert.Check(t, is.DeepEqual(f.extract, ExtractOptions{NoOverwriteDirNonDir: true, CopyUIDGID: true}))
	assert.Check(t, is.Equal(f.extracted, "body"))
	w = serve(t, c.putContainersArchive, httptest.NewRequest(http.MethodPut, "/containers/web/archive?path=/tmp", strings.NewReader("")), vars)
	assert.Check(t, is.Equal(w.Code, http.StatusOK))
	assert.Check(t, is.DeepEqual(f.extract, ExtractOptions{}))
}

func TestPostCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		body  string
		want  CommitOptions
	}{
		{name: "cli", query: "container=web&repo=app&tag=v1&comment=msg&author=me&changes=CMD+x&changes=ENV+A%3Db", body: "null",
			want: CommitOptions{Container: "web", Repo: "app", Tag: "v1", Comment: "msg", Author: "me", Pause: true, Changes: []string{"CMD x", "ENV A=b"}}},
		{name: "no pause", query: "container=web&pause=0", want: CommitOptions{Container: "web"}},
		{name: "config body", query: "container=web&pause=1", body: `{"Cmd":["true"]}`,
			want: CommitOptions{Container: "web", Pause: true, Config: &container.Config{Cmd: []string{"true"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeArchive{}
			c := &containerRouter{b: f}
			r := httptest.NewRequest(http.MethodPost, "/commit?"+tc.query, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			w := serve(t, c.postCommit, r, nil)
			assert.Check(t, is.Equal(w.Code, http.StatusCreated))
			assert.Check(t, is.Equal(strings.TrimSpace(w.Body.String()), `{"Id":"sha256:abc"}`))
			assert.Check(t, is.DeepEqual(f.commit, tc.want))
		})
	}
}
