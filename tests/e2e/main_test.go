// Package e2e drives the daemon under test with the real docker CLI.
//
// Every test reads as the steps a user types. The same suite runs against
// hyperboxd and, with HYPERBOX_TEST_TARGET=dockerd, against the real dockerd
// (the oracle) to prove that what it expects is Docker's behaviour.
package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// shared is the daemon all tests of this package use (one start per package:
// starting a daemon is the slowest step). Tests that restart the daemon start
// their own.
var shared *daemon.Daemon

func TestMain(m *testing.M) {
	os.Exit(daemon.Main(m, func(d *daemon.Daemon) error {
		shared = d
		// `docker build` goes through buildx (BuildKit), as for most users;
		// the classic builder tests set DOCKER_BUILDKIT=0.
		if err := d.InstallBuildxPlugin(); err != nil {
			return err
		}
		return loadBusybox(d)
	}))
}

// loadBusybox loads busybox:latest, built from the host's busybox-static.
func loadBusybox(d *daemon.Daemon) error { return d.LoadBusybox("busybox:latest") }

// setup returns the shared daemon and prints its log if the test fails.
func setup(t *testing.T) *daemon.Daemon {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	shared.LogOnFailure(t)
	return shared
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueName derives a container/image name from the test name: lower case,
// [a-z0-9-] only (valid as container name and as repository path component),
// plus a random suffix.
func uniqueName(t *testing.T) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 40 {
		n = strings.Trim(n[len(n)-40:], "-")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return n + "-" + hex.EncodeToString(b)
}

// removeContainers force-removes the named containers when the test ends.
func removeContainers(t *testing.T, d *daemon.Daemon, names ...string) {
	t.Cleanup(func() {
		d.Run(append([]string{"rm", "-f"}, names...)...)
	})
}

// removeImages removes the image references when the test ends.
func removeImages(t *testing.T, d *daemon.Daemon, refs ...string) {
	t.Cleanup(func() {
		d.Run(append([]string{"rmi", "-f"}, refs...)...)
	})
}

// inspect returns `docker inspect --format format name`, trimmed.
func inspect(t *testing.T, d *daemon.Daemon, format, name string) string {
	t.Helper()
	res := d.Cmd(t, "inspect", "--format", format, name)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// waitForState polls until the container's State.Status is want.
func waitForState(t *testing.T, d *daemon.Daemon, name, want string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("inspect", "--format", "{{.State.Status}}", name)
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("inspect %s: %s", name, res.Combined()))
		}
		if got := strings.TrimSpace(res.Stdout()); got != want {
			return poll.Continue("%s is %q, waiting for %q", name, got, want)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
}

// waitForLog polls until the container's logs (stdout+stderr) contain s.
func waitForLog(t *testing.T, d *daemon.Daemon, name, s string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("logs", name)
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("logs %s: %s", name, res.Combined()))
		}
		if !strings.Contains(res.Combined(), s) {
			return poll.Continue("logs of %s do not contain %q yet", name, s)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(100*time.Millisecond))
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// failFast runs a docker command that is expected to fail, with empty stdin
// (so an interactive prompt, such as the CLI's "Login prior to pull:" on a 401,
// ends at once) and a 30s limit instead of the default two minutes.
func failFast(t *testing.T, d *daemon.Daemon, args ...string) *icmd.Result {
	t.Helper()
	t.Logf("$ docker %s", strings.Join(args, " "))
	return icmd.RunCmd(d.Command(args...), icmd.WithTimeout(30*time.Second), icmd.WithStdin(strings.NewReader("")))
}

// assertExit checks the exit code and prints the whole result when it differs.
func assertExit(t *testing.T, res *icmd.Result, code int) {
	t.Helper()
	assert.Assert(t, !res.Timeout, "command timed out: %s", res.String())
	assert.Check(t, is.Equal(res.ExitCode, code), "result: %s", res.String())
}
