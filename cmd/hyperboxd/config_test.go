package main

import (
	"os"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// TestParseConfig checks flags and daemon.json merging: defaults, supported
// keys applied from the file, and the errors dockerd also gives (unknown
// key, key both as flag and in the file, malformed JSON).
func TestParseConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		// file, when set, is written to a daemon.json passed with --config-file
		// (after args).
		file *string
		// want checks the parsed config; wantErr is a substring of the error.
		want    func(t *testing.T, cfg *Config)
		wantErr []string
	}{
		{
			name: "defaults",
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.DeepEqual(cfg.Hosts, []string{"unix:///var/run/docker.sock"}))
				assert.Check(t, is.Equal(cfg.DataRoot, "/var/lib/hyperbox"))
				assert.Check(t, is.Equal(cfg.ExecRoot, "/run/hyperbox"))
				assert.Check(t, is.Equal(cfg.DefaultRuntime, "crun"))
				assert.Check(t, is.Equal(cfg.Containerd, ""), "embedded containerd by default")
				assert.Check(t, is.Equal(cfg.ContainerdNS, "hyperbox"))
				assert.Check(t, is.Equal(cfg.LogLevel, "info"))
				assert.Check(t, is.Equal(cfg.Group, "docker"))
				assert.Check(t, is.Equal(cfg.Pidfile, "/run/hyperbox/hyperboxd.pid"))
				assert.Check(t, !cfg.TLS && !cfg.TLSVerify)
				assert.Check(t, is.Equal(cfg.LogDriver, ""))
			},
		},
		{
			name: "flags",
			args: []string{"--data-root", "/d", "--exec-root", "/e", "--default-runtime", "runc", "-D", "--insecure-registry", "r:5000", "--label", "a=b"},
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.Equal(cfg.DataRoot, "/d"))
				assert.Check(t, is.Equal(cfg.ExecRoot, "/e"))
				assert.Check(t, is.Equal(cfg.DefaultRuntime, "runc"))
				assert.Check(t, is.Equal(cfg.LogLevel, "debug"), "-D implies debug logging")
				assert.Check(t, is.DeepEqual(cfg.InsecureRegistries, []string{"r:5000"}))
				assert.Check(t, is.DeepEqual(cfg.Labels, []string{"a=b"}))
				assert.Check(t, is.Equal(cfg.Pidfile, "/e/hyperboxd.pid"), "pid file follows --exec-root")
			},
		},
		{
			name: "-H is repeatable",
			args: []string{"-H", "unix:///tmp/a.sock", "-H", "tcp://127.0.0.1:2376", "--host", "unix:///tmp/b.sock"},
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.DeepEqual(cfg.Hosts, []string{"unix:///tmp/a.sock", "tcp://127.0.0.1:2376", "unix:///tmp/b.sock"}))
			},
		},
		{
			name: "daemon.json keys are applied",
			file: ptr(`{
				"hosts": ["unix:///tmp/f.sock"],
				"data-root": "/fd",
				"exec-root": "/fe",
				"default-runtime": "runc",
				"containerd-namespace": "ns1",
				"log-level": "warn",
				"insecure-registries": ["reg.example:5000"],
				"labels": ["x=y"],
				"log-driver": "json-file",
				"log-opts": {"max-size": "10m", "max-file": "3"},
				"live-restore": true,
				"group": "wheel",
				"tlsverify": true,
				"tlscacert": "/ca.pem",
				"tlscert": "/cert.pem",
				"tlskey": "/key.pem"
			}`),
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.DeepEqual(cfg.Hosts, []string{"unix:///tmp/f.sock"}))
				assert.Check(t, is.Equal(cfg.DataRoot, "/fd"))
				assert.Check(t, is.Equal(cfg.ExecRoot, "/fe"))
				assert.Check(t, is.Equal(cfg.DefaultRuntime, "runc"))
				assert.Check(t, is.Equal(cfg.ContainerdNS, "ns1"))
				assert.Check(t, is.Equal(cfg.LogLevel, "warn"))
				assert.Check(t, is.DeepEqual(cfg.InsecureRegistries, []string{"reg.example:5000"}))
				assert.Check(t, is.DeepEqual(cfg.Labels, []string{"x=y"}))
				assert.Check(t, is.Equal(cfg.LogDriver, "json-file"))
				assert.Check(t, is.DeepEqual(cfg.LogOpts, map[string]string{"max-size": "10m", "max-file": "3"}))
				assert.Check(t, cfg.LiveRestore)
				assert.Check(t, is.Equal(cfg.Group, "wheel"))
				assert.Check(t, cfg.TLSVerify)
				assert.Check(t, is.Equal(cfg.TLSCACert, "/ca.pem"))
				assert.Check(t, is.Equal(cfg.TLSCert, "/cert.pem"))
				assert.Check(t, is.Equal(cfg.TLSKey, "/key.pem"))
				assert.Check(t, is.Equal(cfg.Pidfile, "/fe/hyperboxd.pid"), "pid file follows the file's exec-root")
			},
		},
		{
			name: "file and flags for different keys combine",
			args: []string{"--data-root", "/flagroot"},
			file: ptr(`{"debug": true}`),
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.Equal(cfg.DataRoot, "/flagroot"))
				assert.Check(t, is.Equal(cfg.ExecRoot, "/run/hyperbox"), "defaults survive for keys the file lacks")
				assert.Check(t, is.Equal(cfg.DefaultRuntime, "crun"))
				assert.Check(t, is.Equal(cfg.LogLevel, "debug"), `"debug": true implies debug logging`)
			},
		},
		{
			name: "empty file",
			file: ptr("  \n"),
			want: func(t *testing.T, cfg *Config) {
				assert.Check(t, is.Equal(cfg.DataRoot, "/var/lib/hyperbox"))
			},
		},
		{
			name:    "unknown key",
			file:    ptr(`{"data-root": "/d", "no-such-option": 1}`),
			wantErr: []string{"don't match any configuration option", "no-such-option"},
		},
		{
			name:    "unknown keys are all named",
			file:    ptr(`{"zzz": 1, "aaa": 2}`),
			wantErr: []string{"aaa, zzz"},
		},
		{
			name:    "key both as flag and in the file",
			args:    []string{"--data-root", "/flag"},
			file:    ptr(`{"data-root": "/file"}`),
			wantErr: []string{"specified both as a flag and in the configuration file", "data-root", "/flag", "/file"},
		},
		{
			name:    "-H and hosts in the file conflict",
			args:    []string{"-H", "unix:///tmp/x.sock"},
			file:    ptr(`{"hosts": ["unix:///tmp/y.sock"]}`),
			wantErr: []string{"specified both as a flag and in the configuration file", "hosts"},
		},
		{
			name:    "--insecure-registry and insecure-registries conflict",
			args:    []string{"--insecure-registry", "a:1"},
			file:    ptr(`{"insecure-registries": ["b:2"]}`),
			wantErr: []string{"specified both as a flag and in the configuration file", "insecure-registries"},
		},
		{
			name:    "malformed JSON",
			file:    ptr(`{"data-root": "/d",`),
			wantErr: []string{"unable to configure the daemon with file"},
		},
		{
			name:    "wrong value type",
			file:    ptr(`{"debug": "yes"}`),
			wantErr: []string{"unable to configure the daemon with file"},
		},
		{
			name:    "missing config file",
			args:    []string{"--config-file", "/nonexistent/hyperbox/daemon.json"},
			wantErr: []string{"/nonexistent/hyperbox/daemon.json"},
		},
		{
			name:    "log-driver other than json-file",
			file:    ptr(`{"log-driver": "journald"}`),
			wantErr: []string{`log-driver "journald" is not supported`},
		},
		{
			name: "bip and address pools",
			file: ptr(`{"bip": "10.20.0.1/24", "default-address-pools": [{"base": "10.30.0.0/16", "size": 24}]}`),
			want: func(t *testing.T, cfg *Config) {
				o := netOptions(cfg)
				assert.Check(t, is.Equal(o.DefaultCIDR.String(), "10.20.0.1/24"))
				assert.Check(t, is.Len(o.Pools, 1))
				assert.Check(t, is.Equal(o.Pools[0].Base.String(), "10.30.0.0/16"))
				assert.Check(t, is.Equal(o.Pools[0].Size, 24))
			},
		},
		{
			name:    "bip without a host address",
			args:    []string{"--bip", "10.20.0.0/24"},
			wantErr: []string{"invalid bip"},
		},
		{
			name:    "bad address pool",
			file:    ptr(`{"default-address-pools": [{"base": "10.30.0.0/16", "size": 8}]}`),
			wantErr: []string{"invalid default-address-pools"},
		},
		{
			name:    "unknown flag",
			args:    []string{"--no-such-flag"},
			wantErr: []string{"no-such-flag"},
		},
		{
			name:    "positional arguments",
			args:    []string{"extra"},
			wantErr: []string{"unexpected arguments: extra"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string(nil), tc.args...)
			if tc.file != nil {
				p := filepath.Join(t.TempDir(), "daemon.json")
				assert.NilError(t, os.WriteFile(p, []byte(*tc.file), 0o600))
				args = append(args, "--config-file", p)
			}
			cfg, err := parseConfig(args)
			if len(tc.wantErr) > 0 {
				assert.Assert(t, err != nil, "want an error, got config %+v", cfg)
				for _, s := range tc.wantErr {
					assert.Check(t, is.ErrorContains(err, s))
				}
				return
			}
			assert.NilError(t, err)
			tc.want(t, cfg)
		})
	}
}

func ptr(s string) *string { return &s }
