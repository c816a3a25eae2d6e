package storage_test

import (
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/storage"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	open := startRegistry(t)
	basic := startRegistry(t, withBasicAuth("alice", "secret"))
	token := startRegistry(t, withTokenAuth("bob", "hunter2"))

	tests := []struct {
		name      string
		server    string
		auth      storage.Auth
		wantToken string
		wantErr   func(error) bool
	}{
		{name: "open registry", server: open.host, auth: storage.Auth{Username: "x", Password: "y"}},
		{name: "basic good", server: basic.host, auth: storage.Auth{Username: "alice", Password: "secret"}},
		{name: "basic good with scheme", server: "http://" + basic.host + "/v2/", auth: storage.Auth{Username: "alice", Password: "secret"}},
		{name: "basic bad", server: basic.host, auth: storage.Auth{Username: "alice", Password: "wrong"}, wantErr: errdefs.IsUnauthorized},
		{name: "basic none", server: basic.host, wantErr: errdefs.IsUnauthorized},
		{name: "bearer good", server: token.host, auth: storage.Auth{Username: "bob", Password: "hunter2"}, wantToken: "refresh-bob"},
		{name: "bearer identity token", server: token.host, auth: storage.Auth{IdentityToken: "refresh-bob"}},
		{name: "bearer bad", server: token.host, auth: storage.Auth{Username: "bob", Password: "wrong"}, wantErr: errdefs.IsUnauthorized},
		{name: "unreachable", server: "127.0.0.1:1", auth: storage.Auth{Username: "a", Password: "pw-unreachable"}, wantErr: errdefs.IsUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.store.Login(e.ctx, tc.server, tc.auth)
			if tc.wantErr != nil {
				assert.Assert(t, err != nil)
				t.Logf("error: %v", err)
				assert.Check(t, tc.wantErr(err), "wrong class: %v", err)
				if tc.auth.Password != "" {
					assert.Check(t, !contains(err.Error(), tc.auth.Password), "password in error: %v", err)
				}
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(tok, tc.wantToken))
		})
	}
}
