package build_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	buildtypes "github.com/moby/moby/api/types/build"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/server"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/routes/build"
)

// fakeBackend records the options and answers by the first tag:
// "early" fails before any output, "late" after some.
type fakeBackend struct {
	got   build.Options
	body  string
	prune build.PruneOptions
}

func (f *fakeBackend) BuildCachePrune(_ context.Context, opts build.PruneOptions) (*buildtypes.CachePruneReport, error) {
	f.prune = opts
	return &buildtypes.CachePruneReport{CachesDeleted: []string{"x"}, SpaceReclaimed: 7}, nil
}

func (f *fakeBackend) Build(_ context.Context, opts build.Options, out build.Progress) error {
	f.got = opts
	data, _ := io.ReadAll(opts.Context)
	f.body = string(data)
	tag := ""
	if len(opts.Tags) > 0 {
		tag = opts.Tags[0]
	}
	switch tag {
	case "early":
		return errdefs.ErrInvalidArgument.WithMessage("Cannot locate specified Dockerfile: Dockerfile")
	case "late":
		_ = out.Send(map[string]string{"stream": "Step 1/1 : RUN false\n"})
		return errdefs.ErrUnknown.WithMessage("The command '/bin/sh -c false' returned a non-zero code: 1")
	}
	_ = out.Send(map[string]any{"aux": map[string]string{"ID": "sha256:abc"}})
	return nil
}

func newServer(b build.Backend) http.Handler {
	s := server.New(server.Config{Versions: middleware.Versions{Min: "1.24", Max: "1.56", ServerVersion: "28.5.2"}})
	s.Register(build.New(b, nil))
	return s.Handler()
}

// goClientQuery is what the moby Go client (client/image_build.go) sends
// for `docker build -t a:1 -t b:2 --build-arg X=1 --label l=v`.
const goClientQuery = "buildargs=%7B%22X%22%3A%221%22%2C%22Y%22%3Anull%7D&cachefrom=%5B%5D&cgroupparent=&cpuperiod=0&cpuquota=0" +
	"&cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=sub%2FDockerfile&labels=%7B%22l%22%3A%22v%22%7D&memory=0&memswap=0" +
	"&networkmode=default&rm=1&shmsize=0&t=a%3A1&t=b%3A2&target=&ulimits=null&version=1"

func TestPostBuild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantBody   []string
		check      func(t *testing.T, f *fakeBackend)
	}{
		{
			name: "go client query", query: goClientQuery, wantStatus: http.StatusOK,
			wantBody: []string{`{"aux":{"ID":"sha256:abc"}}`},
			check: func(t *testing.T, f *fakeBackend) {
				assert.Check(t, is.DeepEqual(f.got.Tags, []string{"a:1", "b:2"}))
				assert.Check(t, is.Equal(f.got.Dockerfile, "sub/Dockerfile"))
				assert.Check(t, is.Equal(*f.got.BuildArgs["X"], "1"))
				assert.Check(t, f.got.BuildArgs["Y"] == nil)
				assert.Check(t, is.DeepEqual(f.got.Labels, map[string]string{"l": "v"}))
				assert.Check(t, f.got.Remove && !f.got.ForceRemove && !f.got.Quiet)
				assert.Check(t, is.Equal(f.body, "TAR"))
			},
		},
		{
			name: "forcerm implies rm", query: "rm=0&forcerm=1&q=1&nocache=1", wantStatus: http.StatusOK,
			check: func(t *testing.T, f *fakeBackend) {
				assert.Check(t, f.got.Remove && f.got.ForceRemove && f.got.Quiet && f.got.NoCache)
			},
		},
		{
			name: "bad buildargs", query: "buildargs=%7Bnope", wantStatus: http.StatusBadRequest,
			wantBody: []string{`"message":"error reading build args`},
		},
		{
			name: "bad labels", query: "labels=%5B1%5D", wantStatus: http.StatusBadRequest,
			wantBody: []string{`"message":"error reading labels`},
		},
		{
			name: "remote context", query: "remote=https%3A%2F%2Fexample.com%2Fctx.tar", wantStatus: http.StatusNotImplemented,
		},
		{
			name: "error before output keeps its status", query: "t=early", wantStatus: http.StatusBadRequest,
			wantBody: []string{`{"message":"Cannot locate specified Dockerfile: Dockerfile"}`},
		},
		{
			name: "error after output is in-band", query: "t=late", wantStatus: http.StatusOK,
			wantBody: []string{
				`{"stream":"Step 1/1 : RUN false\n"}`,
				`"errorDetail":{"message":"The command '/bin/sh -c false' returned a non-zero code: 1"}`,
				`"error":"The command '/bin/sh -c false' returned a non-zero code: 1"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			req := httptest.NewRequest(http.MethodPost, "/v1.51/build?"+tc.query, strings.NewReader("TAR"))
			req.Header.Set("Content-Type", "application/x-tar")
			rec := httptest.NewRecorder()
			newServer(f).ServeHTTP(rec, req)
			assert.Check(t, is.Equal(rec.Code, tc.wantStatus), rec.Body.String())
			for _, w := range tc.wantBody {
				assert.Check(t, is.Contains(rec.Body.String(), w))
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestPostBuildPrune(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	req := httptest.NewRequest(http.MethodPost, "/v1.51/build/prune?all=1&keep-storage=100&max-used-space=5&filters=%7B%22type%22%3A%7B%22regular%22%3Atrue%7D%7D", nil)
	rec := httptest.NewRecorder()
	newServer(f).ServeHTTP(rec, req)
	assert.Check(t, is.Equal(rec.Code, http.StatusOK), rec.Body.String())
	assert.Check(t, is.Contains(rec.Body.String(), `"CachesDeleted":["x"],"SpaceReclaimed":7`))
	assert.Check(t, f.prune.All)
	assert.Check(t, is.Equal(f.prune.ReservedSpace, int64(100)))
	assert.Check(t, is.Equal(f.prune.MaxUsedSpace, int64(5)))
	assert.Check(t, f.prune.Filters["type"]["regular"])

	req = httptest.NewRequest(http.MethodPost, "/v1.51/build/prune?reserved-space=lots", nil)
	rec = httptest.NewRecorder()
	newServer(f).ServeHTTP(rec, req)
	assert.Check(t, is.Equal(rec.Code, http.StatusBadRequest), rec.Body.String())
}

// Without BuildKit /grpc and /session answer 501 (buildx reports it), and
// an upgrade to anything but h2c is refused.
func TestGRPCWithoutBuildKit(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/grpc", "/session"} {
		req := httptest.NewRequest(http.MethodPost, "/v1.51"+path, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "h2c")
		rec := httptest.NewRecorder()
		newServer(&fakeBackend{}).ServeHTTP(rec, req)
		assert.Check(t, is.Equal(rec.Code, http.StatusNotImplemented), path)
	}
}
