package daemon

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvBuildx overrides the docker-buildx CLI plugin binary (default
// <repo>/bin/docker-buildx, built by `make buildx` from the version pinned in
// tests/tools/buildx/go.mod).
const EnvBuildx = "HYPERBOX_TEST_BUILDX"

// EnvCompose overrides the docker-compose CLI plugin binary (default
// <repo>/bin/docker-compose, built by `make compose` from the version pinned
// in tests/tools/compose/go.mod).
const EnvCompose = "HYPERBOX_TEST_COMPOSE"

// ComposePath returns $HYPERBOX_TEST_COMPOSE or <repo root>/bin/docker-compose.
func ComposePath() (string, error) { return pluginPath("docker-compose", EnvCompose, "compose") }

// BuildxPath returns $HYPERBOX_TEST_BUILDX or <repo root>/bin/docker-buildx.
func BuildxPath() (string, error) { return pluginPath("docker-buildx", EnvBuildx, "buildx") }

func pluginPath(name, env, target string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return filepath.Abs(p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("docker CLI plugin not found at %s: run `make %s` or set %s", p, target, env)
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
	return d.installPlugin("docker-compose", bin)
}

// InstallBuildxPlugin makes `docker build` go through buildx (BuildKit's
// /grpc and /session) for this daemon's CLI, as on most users' machines:
// it links BuildxPath as docker-buildx into the private DOCKER_CONFIG.
func (d *Daemon) InstallBuildxPlugin() error {
	bin, err := BuildxPath()
	if err != nil {
		return err
	}
	return d.installPlugin("docker-buildx", bin)
}

// RemoveBuildxPlugin undoes InstallBuildxPlugin: `docker build` sends the
// classic POST /build again.
func (d *Daemon) RemoveBuildxPlugin() error {
	err := os.Remove(filepath.Join(d.configDir, "cli-plugins", "docker-buildx"))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

func (d *Daemon) installPlugin(name, bin string) error {
	dir := filepath.Join(d.configDir, "cli-plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	link := filepath.Join(dir, name)
	_ = os.Remove(link)
	return os.Symlink(bin, link)
}

// ConfigDir returns the DOCKER_CONFIG directory the daemon's CLI uses.
func (d *Daemon) ConfigDir() string { return d.configDir }
