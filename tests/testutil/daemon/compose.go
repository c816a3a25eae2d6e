package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvCompose overrides the docker-compose CLI plugin binary (default
// <repo>/bin/docker-compose, built by `make compose` from the version pinned
// in tests/tools/compose/go.mod).
const EnvCompose = "HYPERBOX_TEST_COMPOSE"

// ComposePath returns $HYPERBOX_TEST_COMPOSE or <repo root>/bin/docker-compose.
func ComposePath() (string, error) {
	if p := os.Getenv(EnvCompose); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvCompose, p, err)
		}
		return filepath.Abs(p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "docker-compose")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("docker compose plugin not found at %s: run `make compose` or set %s", p, EnvCompose)
	}
	return p, nil
}

// InstallComposePlugin makes `docker compose` work for this daemon's CLI: it
// links the plugin binary (ComposePath) as docker-compose into the cli-plugins
// directory of the daemon's private DOCKER_CONFIG, the first place the docker
// CLI looks for plugins. The host's ~/.docker is never touched.
func (d *Daemon) InstallComposePlugin() error {
	bin, err := ComposePath()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.configDir, "cli-plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	link := filepath.Join(dir, "docker-compose")
	_ = os.Remove(link)
	return os.Symlink(bin, link)
}

// ConfigDir returns the DOCKER_CONFIG directory the daemon's CLI uses.
func (d *Daemon) ConfigDir() string { return d.configDir }
