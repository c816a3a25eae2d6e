package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// TestPrewarmPool: running the same image repeatedly gets later creates a
// prewarmed snapshot (a pool hit, seen in /metrics and docker info), and
// stopping the daemon leaves no pool snapshot behind, across a restart.
func TestPrewarmPool(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "prewarming and --metrics-addr's hyperbox_* metrics are HyperBox's")
	addr := freeAddr(t)
	// A daemon of its own: the test restarts it and counts its snapshots.
	// The pool is off by default; without PSI here, so that the host's
	// pressure cannot pause it (engine/prewarm's tests cover PSI).
	d := daemon.Start(t, daemon.WithArgs("--metrics-addr", addr, "--prewarm", "--prewarm-ignore-pressure"))
	d.LogOnFailure(t)
	assert.NilError(t, loadBusybox(d))
	snapDir := filepath.Join(d.DataRoot(), "containerd", "io.containerd.snapshotter.v1.overlayfs", "snapshots")
	baseline := countDirs(t, snapDir)

	// Pressure is ignored, so the pool must not be paused.
	calm := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if metric(t, addr, "hyperbox_prewarm_paused") == 0 {
			calm = true
			break
		}
	}
	assert.Assert(t, calm, "the pool stayed paused although pressure is ignored")

	for i := 0; i < 6; i++ {
		d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
		if metric(t, addr, "hyperbox_prewarm_hits_total") >= 1 && i >= 2 {
			break
		}
		// Give the pool a moment to refill between runs, as a test suite's
		// own work between two containers would.
		time.Sleep(300 * time.Millisecond)
	}
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_hits_total") >= 1, "no pool hit after repeated runs")
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_misses_total") >= 1)
	out := d.Cmd(t, "info").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Regexp(`Prewarm: (on|paused)`, out))
	assert.Check(t, is.Regexp(`Prewarm Pool: \d+ snapshots for \d+ images; [1-9]\d* hits`, out))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if n := metric(t, addr, "hyperbox_prewarm_pool_entries"); n < 1 {
			return poll.Continue("pool entries %v", n)
		}
		return poll.Success()
	}, poll.WithTimeout(15*time.Second), poll.WithDelay(100*time.Millisecond))
	assert.Check(t, countDirs(t, snapDir) > baseline, "pool snapshots are on disk")

	// A stopped daemon has discarded its pool, and a restart neither
	// brings entries back nor leaks them: once containerd's garbage
	// collector has run (it deletes removed snapshots' directories
	// asynchronously, after the restart if the stop came first), only
	// the image's layers are left.
	d.Stop(t)
	d.Restart(t)
	assert.Check(t, is.Equal(metric(t, addr, "hyperbox_prewarm_pool_entries"), 0.0))
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if n := countDirs(t, snapDir); n != baseline {
			return poll.Continue("%d snapshot directories, want %d", n, baseline)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(250*time.Millisecond))
	d.Stop(t)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// metric reads one unlabelled sample from the daemon's /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	return sample(t, addr, name)
}

// labelledMetric reads the sample of name with exactly these labels
// (`k="v",...`, in the order the daemon writes them).
func labelledMetric(t *testing.T, addr, name, labels string) float64 {
	t.Helper()
	return sample(t, addr, name+"{"+labels+"}")
}

// sample reads the value of one series ("name" or "name{labels}").
func sample(t *testing.T, addr, series string) float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	assert.NilError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	assert.NilError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	assert.Assert(t, m != nil, "metric %s not in:\n%s", series, body)
	v, err := strconv.ParseFloat(string(m[1]), 64)
	assert.NilError(t, err)
	return v
}

func countDirs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	assert.NilError(t, err)
	return len(ents)
}
