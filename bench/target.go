package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// keepLogs is -keep-logs: copy each started daemon's log out before teardown.
var keepLogs bool

// target is one daemon under measurement: hyperboxd ("hyperbox") or the
// reference dockerd ("reference").
type target struct {
	label  string // "hyperbox" or "reference"
	host   string // DOCKER_HOST value
	c      *client.Client
	d      *daemon.Daemon // nil when the daemon was given by address
	root   string         // the daemon's private directory (for finding its shims); "" when given
	cliEnv []string       // environment for docker CLI processes against this daemon
	cliDir string         // private DOCKER_CONFIG, removed by close
	ev     *taskEvents    // containerd task events, for the start-path breakdown; nil if unavailable
}

// launchTarget starts a daemon of kind daemon.TargetHyperbox or
// daemon.TargetDockerd with the test harness (own socket, data-root,
// exec-root, pidfile, cgroup parent), or connects to host when it is set.
func launchTarget(ctx context.Context, label, kind, host string, extra []string, networking bool) (*target, error) {
	t := &target{label: label, host: host}
	if host == "" {
		// The harness picks the daemon kind from the environment.
		if err := os.Setenv(daemon.EnvTarget, kind); err != nil {
			return nil, err
		}
		// The harness starts both daemons with --log-level debug; the
		// benchmark measures them at info (the last flag wins in both).
		opts := []daemon.Option{daemon.WithArgs(append([]string{"--log-level", "info"}, extra...)...)}
		if networking && kind == daemon.TargetDockerd {
			opts = append(opts, daemon.WithNetworking())
		}
		d, err := daemon.Launch(opts...)
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", kind, err)
		}
		t.d, t.host, t.root = d, d.Host(), d.Root()
	}
	c, err := client.New(client.WithHost(t.host))
	if err != nil {
		t.close()
		return nil, err
	}
	t.c = c
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		t.close()
		return nil, fmt.Errorf("%s at %s: %w", label, t.host, err)
	}
	if err := t.setupCLI(); err != nil {
		t.close()
		return nil, err
	}
	t.ev = watchTaskEvents(ctx, t)
	return t, nil
}

// setupCLI makes a private DOCKER_CONFIG with the compose plugin linked into
// its cli-plugins (as daemon.InstallComposePlugin does), so the host's
// ~/.docker is never read or written.
func (t *target) setupCLI() error {
	dir, err := os.MkdirTemp("", "hbx-bench-cli-")
	if err != nil {
		return err
	}
	t.cliDir = dir
	if bin, err := daemon.ComposePath(); err == nil {
		if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(bin, filepath.Join(dir, "cli-plugins", "docker-compose")); err != nil {
			return err
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_") {
			t.cliEnv = append(t.cliEnv, kv)
		}
	}
	t.cliEnv = append(t.cliEnv, "DOCKER_HOST="+t.host, "DOCKER_CONFIG="+dir, "DOCKER_CLI_HINTS=false")
	return nil
}

// close removes every container, stops a daemon the benchmark started and
// removes its directories (the harness's Shutdown), and the CLI config.
func (t *target) close() error {
	var errs []error
	t.ev.close()
	if t.c != nil {
		_ = t.c.Close()
	}
	if t.d != nil {
		if keepLogs {
			logf("%s log kept at %s", t.label, t.d.SaveLog("bench"))
		}
		if err := t.d.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("%s teardown: %w", t.label, err))
		}
	}
	if t.cliDir != "" {
		errs = append(errs, os.RemoveAll(t.cliDir))
	}
	return errors.Join(errs...)
}

// version returns "<product> <version>" as GET /version reports it.
func (t *target) version(ctx context.Context) string {
	v, err := t.c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "unknown: " + err.Error()
	}
	s := v.Version
	if v.Platform.Name != "" {
		s = v.Platform.Name + " " + s
	}
	return s
}
