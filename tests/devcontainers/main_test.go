// Package devcontainers runs the real devcontainers CLI (npm package
// @devcontainers/cli, pinned in tests/tools/devcontainers, installed by
// `make devcontainers`) against the daemon under test: `devcontainer up` on
// an image-based and a Dockerfile-based devcontainer.json, then
// `devcontainer exec`. This is the path VS Code's Dev Containers take.
//
// The CLI shells out to the docker CLI with DOCKER_HOST pointing at the test
// daemon and a private DOCKER_CONFIG without the buildx plugin, so images are
// built with the classic POST /build (the CLI's non-BuildKit path); the
// workspaces made withBuildx have the plugin, and build through BuildKit.
//
// With HYPERBOX_TEST_TARGET=dockerd the same tests run against dockerd with
// its networking on (daemon.WithNetworking), which proves the expectations
// are Docker's.
package devcontainers

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/skip"
)

// busyboxImage is the busybox test image (from the host's busybox-static).
const busyboxImage = "busybox:latest"

// baseImage is the image the devcontainers run or are built FROM: the busybox
// test image plus what the CLI needs in any container, built in TestMain with
// `docker build` (on dockerd just the same):
//   - /etc/os-release: the CLI reads it in every container (`(cat
//     /etc/os-release || cat /usr/lib/os-release)`); `devcontainer up` fails
//     without it;
//   - a non-root user with a writable home and a login shell (hbx, UID 1001):
//     the CLI keeps its lifecycle markers in $HOME/.devcontainer of the remote
//     user and probes the environment with its shell; with the image's only
//     non-root user, nobody (/nonexistent, /bin/false), it silently skips
//     postCreateCommand.
//
// No registry is reachable, so nothing else is pulled: no features, no other
// base images.
const baseImage = "hbx-dc-busybox:latest"

// baseDockerfile builds baseImage.
const baseDockerfile = `FROM ` + busyboxImage + `
RUN printf 'NAME="BusyBox"\nID=busybox\nPRETTY_NAME="BusyBox (hyperbox test image)"\n' > /etc/os-release && \
    echo 'hbx:x:1001:1001:hbx:/home/hbx:/bin/sh' >> /etc/passwd && \
    echo 'hbx:x:1001:' >> /etc/group && \
    mkdir -p /home/hbx && chown 1001:1001 /home/hbx
`

// upTimeout bounds one `devcontainer up` (it may build two images).
const upTimeout = 3 * time.Minute

// execTimeout bounds one `devcontainer exec`.
const execTimeout = time.Minute

// shared is the daemon all tests of this package use.
var shared *daemon.Daemon

// cliJS is the devcontainers CLI entry point (node script).
var cliJS string

func TestMain(m *testing.M) {
	os.Exit(daemon.Main(m, func(d *daemon.Daemon) error {
		js, err := cliPath()
		if err != nil {
			return err
		}
		cliJS = js
		shared = d
		return buildBase(d)
	}, daemon.WithNetworking()))
}

// buildBase loads the busybox test image and builds baseImage on it.
func buildBase(d *daemon.Daemon) error {
	if err := d.LoadBusybox(busyboxImage); err != nil {
		return err
	}
	res := icmd.RunCmd(d.Command("build", "-t", baseImage, "-"), icmd.WithStdin(strings.NewReader(baseDockerfile)))
	if res.Error != nil {
		return fmt.Errorf("docker build -t %s: %s", baseImage, res.String())
	}
	return nil
}

// cliPath returns the installed CLI's devcontainer.js, or an error saying how
// to install it.
func cliPath() (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("node is required for the devcontainers CLI (Node.js >= 20): %w", err)
	}
	root, err := daemon.RepoRoot()
	if err != nil {
		return "", err
	}
	js := filepath.Join(root, "tests", "tools", "devcontainers", "node_modules", "@devcontainers", "cli", "devcontainer.js")
	if _, err := os.Stat(js); err != nil {
		return "", fmt.Errorf("devcontainers CLI not installed (run `make devcontainers`): %w", err)
	}
	return js, nil
}

// setup returns the shared daemon and prints its log if the test fails.
func setup(t *testing.T) *daemon.Daemon {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	shared.LogOnFailure(t)
	return shared
}

// workspace is a host folder opened with the devcontainers CLI: it holds
// .devcontainer/devcontainer.json and is bind-mounted into the container.
type workspace struct {
	d   *daemon.Daemon
	dir string
	tmp string // TMPDIR of the CLI (it writes build files there)
	// dockerConfig, when set, replaces the daemon's DOCKER_CONFIG (see
	// withBuildx).
	dockerConfig string
}

// withBuildx gives the workspace's CLI a DOCKER_CONFIG of its own with the
// buildx plugin, as on most users' machines: the devcontainers CLI then
// builds with `docker buildx build` (BuildKit's /grpc and /session).
func (w *workspace) withBuildx(t *testing.T) {
	t.Helper()
	bin, err := daemon.BuildxPath()
	assert.NilError(t, err)
	w.dockerConfig = filepath.Join(w.tmp, "docker-config")
	assert.NilError(t, os.MkdirAll(filepath.Join(w.dockerConfig, "cli-plugins"), 0o755))
	assert.NilError(t, os.Symlink(bin, filepath.Join(w.dockerConfig, "cli-plugins", "docker-buildx")))
}

// newWorkspace creates a workspace folder with the given files (paths
// relative to it) and registers the removal of everything the CLI created
// for it: its containers (labelled devcontainer.local_folder=<dir>) with
// their anonymous volumes, and the images it built (vsc-<folder>-...).
func newWorkspace(t *testing.T, d *daemon.Daemon, files map[string]string) *workspace {
	t.Helper()
	// A folder under /tmp with a unique base name (the CLI names its
	// images after it), writable by the container's non-root remote user:
	// with the host user root, updateRemoteUserUID finds UID 0 taken by
	// root in the image and leaves the remote user's UID alone.
	dir, err := os.MkdirTemp("", "hbx-dc-")
	assert.NilError(t, err)
	assert.NilError(t, os.Chmod(dir, 0o777))
	tmp, err := os.MkdirTemp("", "hbx-dc-tmp-")
	assert.NilError(t, err)
	w := &workspace{d: d, dir: dir, tmp: tmp}
	t.Cleanup(func() {
		w.cleanup(t)
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(tmp)
	})
	for name, content := range files {
		p := filepath.Join(dir, name)
		assert.NilError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		assert.NilError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return w
}

// command returns `node devcontainer.js args...` with the daemon's docker
// environment (DOCKER_HOST, private DOCKER_CONFIG), limited to limit by
// coreutils timeout, which kills the CLI and the docker processes it started.
func (w *workspace) command(limit time.Duration, args ...string) icmd.Cmd {
	env := append(w.d.Env(), "TMPDIR="+w.tmp, "NO_COLOR=1")
	if w.dockerConfig != "" {
		// os/exec keeps the last value of a repeated variable.
		env = append(env, "DOCKER_CONFIG="+w.dockerConfig)
	}
	secs := strconv.Itoa(int(limit / time.Second))
	return icmd.Cmd{
		Command: append([]string{"timeout", "-k", "5", secs, "node", cliJS}, args...),
		Env:     env,
		Dir:     w.dir,
		Timeout: limit + 15*time.Second,
	}
}

// devcontainer runs `devcontainer sub --workspace-folder <dir> --docker-path
// <docker> args...`, logging the command line.
func (w *workspace) devcontainer(t *testing.T, limit time.Duration, sub string, args ...string) *icmd.Result {
	t.Helper()
	full := append([]string{sub, "--workspace-folder", w.dir, "--docker-path", daemon.CLIPath()}, args...)
	t.Logf("$ devcontainer %s", strings.Join(full, " "))
	return icmd.RunCmd(w.command(limit, full...))
}

// upResult is the JSON line `devcontainer up` prints on stdout.
type upResult struct {
	Outcome               string `json:"outcome"`
	ContainerID           string `json:"containerId"`
	RemoteUser            string `json:"remoteUser"`
	RemoteWorkspaceFolder string `json:"remoteWorkspaceFolder"`
	Message               string `json:"message"`
}

// up runs `devcontainer up` and returns its result, asserting success.
func (w *workspace) up(t *testing.T) upResult {
	t.Helper()
	res := w.devcontainer(t, upTimeout, "up", "--log-level", "trace")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of that devcontainer up:\n%s", res.Combined())
		}
	})
	assert.Assert(t, !timedOut(res), "devcontainer up timed out: %s", res.String())
	assert.Assert(t, res.ExitCode == 0, "devcontainer up: %s", res.String())
	var r upResult
	out := lines(res.Stdout())
	assert.Assert(t, len(out) > 0, "devcontainer up printed nothing on stdout: %s", res.String())
	assert.NilError(t, json.Unmarshal([]byte(out[len(out)-1]), &r), "devcontainer up stdout: %s", res.Stdout())
	assert.Equal(t, r.Outcome, "success", "devcontainer up: %s", res.String())
	assert.Assert(t, r.ContainerID != "", "devcontainer up: %s", res.Stdout())
	return r
}

// exec runs `devcontainer exec <cmd...>` and returns the result.
func (w *workspace) exec(t *testing.T, cmd ...string) *icmd.Result {
	t.Helper()
	res := w.devcontainer(t, execTimeout, "exec", cmd...)
	assert.Assert(t, !timedOut(res), "devcontainer exec timed out: %s", res.String())
	return res
}

// execOK runs `devcontainer exec <cmd...>`, asserts exit status 0 and
// returns its stdout, trimmed.
func (w *workspace) execOK(t *testing.T, cmd ...string) string {
	t.Helper()
	res := w.exec(t, cmd...)
	assert.Assert(t, res.ExitCode == 0, "devcontainer exec %s: %s", strings.Join(cmd, " "), res.String())
	return strings.TrimSpace(res.Stdout())
}

// containers returns the IDs of the workspace's containers.
func (w *workspace) containers(t *testing.T) []string {
	t.Helper()
	res := w.d.Cmd(t, "ps", "-aq", "--no-trunc", "--filter", "label=devcontainer.local_folder="+w.dir)
	res.Assert(t, icmd.Success)
	return lines(res.Stdout())
}

// images returns the references of the images the CLI built for the
// workspace: vsc-<folder base name>-<hash>[-uid][:latest].
func (w *workspace) images(t *testing.T) []string {
	t.Helper()
	res := w.d.Cmd(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
	res.Assert(t, icmd.Success)
	prefix := "vsc-" + strings.ToLower(filepath.Base(w.dir)) + "-"
	var out []string
	for _, ref := range lines(res.Stdout()) {
		if strings.HasPrefix(ref, prefix) {
			out = append(out, ref)
		}
	}
	return out
}

// cleanup removes the workspace's containers (with anonymous volumes) and
// images, and checks none is left.
func (w *workspace) cleanup(t *testing.T) {
	t.Helper()
	if ids := w.containers(t); len(ids) > 0 {
		if t.Failed() {
			for _, id := range ids {
				t.Logf("logs of %s:\n%s", id, w.d.Cmd(t, "logs", id).Combined())
			}
		}
		w.d.Cmd(t, append([]string{"rm", "-f", "-v"}, ids...)...).Assert(t, icmd.Success)
	}
	if refs := w.images(t); len(refs) > 0 {
		w.d.Cmd(t, append([]string{"rmi"}, refs...)...).Assert(t, icmd.Success)
	}
	assert.Assert(t, len(w.containers(t)) == 0, "containers of %s left", w.dir)
	assert.Assert(t, len(w.images(t)) == 0, "images of %s left", w.dir)
}

// timedOut reports whether a command from command() ran out of time.
func timedOut(res *icmd.Result) bool {
	return res.Timeout || res.ExitCode == 124 || res.ExitCode == 137
}

// lines splits output into non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// inspect returns `docker inspect --format format target`, trimmed.
func inspect(t *testing.T, d *daemon.Daemon, format, target string) string {
	t.Helper()
	res := d.Cmd(t, "inspect", "--format", format, target)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// readFile returns the content of a file in the workspace, trimmed.
func (w *workspace) readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	assert.NilError(t, err)
	return strings.TrimSpace(string(b))
}

// ownerUID returns the owner UID of a file as a decimal string.
func ownerUID(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(st.Uid), 10)
	}
	return "?"
}
