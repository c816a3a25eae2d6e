package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"gotest.tools/v3/assert"
)

type fake []Sample

func (f fake) Metrics(context.Context) []Sample { return f }

func TestHandler(t *testing.T) {
	t.Parallel()
	b := fake{
		{Name: "x_total", Help: "X.", Type: "counter", Value: 3},
		{Name: "psi", Help: "P.", Type: "gauge", Labels: map[string]string{"resource": "memory", "source": "system"}, Value: 1.5},
		{Name: "psi", Help: "P.", Type: "gauge", Labels: map[string]string{"resource": "io", "source": "system"}, Value: 0},
	}
	srv := httptest.NewServer(Handler(b))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/metrics")
	assert.NilError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	assert.Equal(t, res.StatusCode, 200)
	assert.Equal(t, string(body), `# HELP psi P.
# TYPE psi gauge
psi{resource="memory",source="system"} 1.5
psi{resource="io",source="system"} 0
# HELP x_total X.
# TYPE x_total counter
x_total 3
`)
}
