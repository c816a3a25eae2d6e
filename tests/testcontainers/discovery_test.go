package testcontainers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
)

// TestDaemonDiscovery proves testcontainers-go finds the daemon the ways
// users configure it, each in a child session with a minimal environment
// (no TESTCONTAINERS_* variable, a fresh HOME) and default settings, Ryuk
// included: the child's containers and network must show up on this daemon
// (docker ps -a through the harness), the child must report the endpoint it
// was configured with, and the child's Ryuk must remove them after it exits.
func TestDaemonDiscovery(t *testing.T) {
	d := setup(t)

	// DOCKER_HOST=unix://<socket>.
	t.Run("DOCKER_HOST", func(t *testing.T) {
		t.Parallel()
		mark := uniqueMark(t)
		args := childArgs(t)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = childEnvironment(t, mark, "DOCKER_HOST="+d.Host())
		waitReaped(t, d, checkChild(t, d, cmd, mark, d.Host()), 60*time.Second)
	})

	// A docker context made current with the real CLI in a private
	// DOCKER_CONFIG, and no DOCKER_HOST. testcontainers-go v0.45.0 does not
	// read docker contexts (testcontainers/testcontainers-go#2607), so the
	// child takes DOCKER_HOST from `docker context inspect` of the current
	// context, as its users do (see childSetup).
	t.Run("docker context", func(t *testing.T) {
		t.Parallel()
		mark := uniqueMark(t)
		cli := daemon.CLIPath()
		cfg := t.TempDir()
		docker := func(args ...string) *icmd.Result {
			t.Logf("$ DOCKER_CONFIG=%s docker %s", cfg, strings.Join(args, " "))
			return icmd.RunCmd(icmd.Cmd{
				Command: append([]string{cli}, args...),
				Env:     []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + cfg},
				Timeout: daemon.CLITimeout,
			})
		}
		docker("context", "create", "hbx", "--docker", "host="+d.Host()).Assert(t, icmd.Success)
		docker("context", "use", "hbx").Assert(t, icmd.Success)
		res := docker("context", "show")
		res.Assert(t, icmd.Success)
		assert.Equal(t, strings.TrimSpace(res.Stdout()), "hbx")

		args := childArgs(t)
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = childEnvironment(t, mark, "DOCKER_CONFIG="+cfg, hostFromContextEnv+"="+cli)
		s := checkChild(t, d, cmd, mark, d.Host())
		// The CLI, through the context alone, sees the same containers.
		res = docker("ps", "-a", "--no-trunc", "--filter", "label="+markLabel+"="+mark, "--format", "{{.ID}}")
		res.Assert(t, icmd.Success)
		assert.Check(t, is.DeepEqual(sorted(strings.Fields(res.Stdout())), sorted(s.containers)))
		waitReaped(t, d, s, 60*time.Second)
	})

	// The default socket: no DOCKER_HOST, no context; the child runs in a
	// private mount namespace (unshare, util-linux) where an empty tmpfs
	// covers /run and the daemon's socket is bind-mounted at
	// /var/run/docker.sock, so the host's /var/run is never touched.
	// TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE gives the path the daemon, which
	// lives outside that namespace, bind-mounts into Ryuk: with a daemon
	// really on /var/run/docker.sock both paths are the same.
	t.Run("default socket", func(t *testing.T) {
		t.Parallel()
		mark := uniqueMark(t)
		run, err := filepath.EvalSymlinks("/var/run")
		assert.NilError(t, err)
		before := hostSocket()
		const script = `set -e
run=$1 sock=$2; shift 2
mount -t tmpfs -o mode=0755,size=1m hbx-tc-run "$run"
: > "$run/docker.sock"
mount --bind "$sock" "$run/docker.sock"
"$@"`
		args := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", run, d.Socket()}, childArgs(t)...)
		cmd := exec.Command("unshare", args...)
		cmd.Env = childEnvironment(t, mark, "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE="+d.Socket())
		s := checkChild(t, d, cmd, mark, "unix:///var/run/docker.sock")
		waitReaped(t, d, s, 60*time.Second)
		assert.Check(t, is.Equal(hostSocket(), before), "the host's /var/run/docker.sock changed")
	})
}

// hostSocket describes the host's /var/run/docker.sock (or its absence).
func hostSocket() string {
	fi, err := os.Lstat("/var/run/docker.sock")
	if err != nil {
		return err.Error()
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%s %v", fi.Mode(), st)
}

// checkChild runs a child session and checks it used host and created its
// objects on d.
func checkChild(t *testing.T, d *daemon.Daemon, cmd *exec.Cmd, mark, host string) childSession {
	t.Helper()
	s := runChild(t, cmd)
	assert.Equal(t, s.host, host, "the endpoint testcontainers-go used in the child")
	assertCreatedHere(t, d, s, mark)
	return s
}
