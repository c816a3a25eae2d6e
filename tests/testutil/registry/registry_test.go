package registry_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperbox/hyperbox/tests/testutil/registry"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestHosts(t *testing.T) {
	reg := registry.Start(t)
	assert.Check(t, is.Equal(reg.Host(), "127.0.0.1:"+strconv.Itoa(reg.Port())))
	assert.Check(t, is.Equal(reg.LocalhostHost(), "localhost:"+strconv.Itoa(reg.Port())))
}

func TestBasicAuth(t *testing.T) {
	cases := []struct {
		name       string
		opts       []registry.Option
		user, pass string
		want       int
		challenge  string
	}{
		{name: "open registry", want: http.StatusOK},
		{name: "no credentials", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, want: http.StatusUnauthorized, challenge: `Basic realm="hyperbox-test"`},
		{name: "wrong password", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, user: "u", pass: "x", want: http.StatusUnauthorized, challenge: `Basic realm="hyperbox-test"`},
		{name: "right credentials", opts: []registry.Option{registry.WithBasicAuth("u", "p")}, user: "u", pass: "p", want: http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.Start(t, tc.opts...)
			req, err := http.NewRequest(http.MethodGet, "http://"+reg.Host()+"/v2/", nil)
			assert.NilError(t, err)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			assert.NilError(t, err)
			resp.Body.Close()
			assert.Check(t, is.Equal(resp.StatusCode, tc.want))
			assert.Check(t, is.Equal(resp.Header.Get("WWW-Authenticate"), tc.challenge))
			if tc.want == http.StatusUnauthorized {
				assert.Check(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
			}
		})
	}
}
