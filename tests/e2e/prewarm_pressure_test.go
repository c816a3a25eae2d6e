package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// TestPrewarmDrainsUnderMemoryPressure generates real memory pressure in
// a cgroup (tests/testutil/memhog under a 64 MiB limit, without swap) and
// checks that the pools of a daemon watching PSI drain (both the snapshot
// and the network namespace pool), that starts under pressure prewarm
// nothing, and that the pools refill once the pressure is gone. On a v1/v2
// hybrid host the daemon runs in the same cgroup v2 group as the workload,
// so its own cgroup's memory.pressure sees the stall (checked in its
// metrics); the system-wide file sees it on any host.
func TestPrewarmDrainsUnderMemoryPressure(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "prewarming is HyperBox's")
	_, err := os.Stat("/proc/pressure/memory")
	assert.NilError(t, err, "this kernel has no PSI")
	cg := newPressureCgroup(t)
	hog := buildMemhog(t)
	file := hogFile(t)

	addr := freeAddr(t)
	opts := []daemon.Option{daemon.WithArgs("--metrics-addr", addr, "--prewarm")}
	if cg.daemonDir != "" {
		opts = append(opts, daemon.WithCgroup2(cg.daemonDir))
	}
	d := daemon.Start(t, opts...)
	d.LogOnFailure(t)
	assert.NilError(t, loadBusybox(d))
	waitMetric := func(name string, what string, ok func(float64) bool, timeout time.Duration) {
		t.Helper()
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if v := metric(t, addr, name); !ok(v) {
				return poll.Continue("%s = %v, want %s", name, v, what)
			}
			return poll.Success()
		}, poll.WithTimeout(timeout), poll.WithDelay(200*time.Millisecond))
	}
	zero := func(v float64) bool { return v == 0 }
	positive := func(v float64) bool { return v >= 1 }
	pools := []string{"hyperbox_prewarm_pool_entries", "hyperbox_prewarm_netns_pool_entries"}

	// Calm first (other work on the host may have left pressure), then
	// both pools get an entry from recent demand.
	waitMetric("hyperbox_prewarm_paused", "0", zero, 90*time.Second)
	for i := 0; i < 2; i++ {
		d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	}
	for _, p := range pools {
		waitMetric(p, ">= 1", positive, 20*time.Second)
	}
	releases := metric(t, addr, "hyperbox_prewarm_releases_total") + metric(t, addr, "hyperbox_prewarm_netns_releases_total")
	cgroupStall := labelledMetric(t, addr, "hyperbox_psi_memory_some_stall_seconds_total", `scope="cgroup"`)

	stop := cg.startHog(t, hog, file)
	began := time.Now()
	waitMetric("hyperbox_prewarm_paused", "1", positive, 30*time.Second)
	for _, p := range pools {
		waitMetric(p, "0", zero, 5*time.Second)
	}
	t.Logf("pools drained %v after the workload started", time.Since(began).Round(100*time.Millisecond))
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_releases_total")+metric(t, addr, "hyperbox_prewarm_netns_releases_total") >= releases+2,
		"both pools' entries are released")
	if cg.daemonDir != "" {
		// The daemon's own cgroup (the workload's v2 group) records the
		// stall: its readings, taken every second, show it.
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if v := labelledMetric(t, addr, "hyperbox_psi_memory_some_stall_seconds_total", `scope="cgroup"`); v < cgroupStall+0.5 {
				return poll.Continue("the daemon's cgroup stalled %.2f s on memory, before the workload %.2f s", v, cgroupStall)
			}
			return poll.Success()
		}, poll.WithTimeout(10*time.Second), poll.WithDelay(200*time.Millisecond))
	}

	// Starts under pressure record demand but prewarm nothing.
	prepared := metric(t, addr, "hyperbox_prewarm_prepared_total") + metric(t, addr, "hyperbox_prewarm_netns_prepared_total")
	for i := 0; i < 2; i++ {
		d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	}
	time.Sleep(2 * time.Second)
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_paused") == 1, "pressure still holds the pools")
	for _, p := range pools {
		assert.Check(t, metric(t, addr, p) == 0, "%s under pressure", p)
	}
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_prepared_total")+metric(t, addr, "hyperbox_prewarm_netns_prepared_total") == prepared,
		"nothing prepared under pressure")

	// Pressure gone: the pools refill.
	stop()
	waitMetric("hyperbox_prewarm_paused", "0", zero, 90*time.Second)
	for _, p := range pools {
		waitMetric(p, ">= 1", positive, 20*time.Second)
	}
}

// pressureCgroup is where memhog runs: a memory limit, and a cgroup v2
// group whose memory.pressure records the stall.
type pressureCgroup struct {
	join      []string // cgroup.procs files memhog joins
	limited   string   // the memory-limited group: every process in it is memhog's
	daemonDir string   // the v2 group the daemon runs in ("" = its own)
}

const hogLimit = 64 << 20

// newPressureCgroup makes the groups; cleanup kills what is left in them
// and removes them, after the daemon's own cleanup (registered later).
func newPressureCgroup(t *testing.T) *pressureCgroup {
	t.Helper()
	name := fmt.Sprintf("hbx-psi-%d", os.Getpid())
	mk := func(dir string) {
		assert.NilError(t, os.Mkdir(dir, 0o755))
		t.Cleanup(func() {
			_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
			killProcs(filepath.Join(dir, "cgroup.procs"))
			poll.WaitOn(t, func(poll.LogT) poll.Result {
				if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
					killProcs(filepath.Join(dir, "cgroup.procs"))
					return poll.Continue("remove %s: %v", dir, err)
				}
				return poll.Success()
			}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))
		})
	}
	limit := strconv.Itoa(hogLimit)
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
		// v1/v2 hybrid: the limit is the v1 memory controller's; the stall
		// is recorded in the unified group, shared with the daemon.
		mem := filepath.Join("/sys/fs/cgroup/memory", name)
		uni := filepath.Join("/sys/fs/cgroup/unified", name)
		mk(uni)
		mk(mem)
		assert.NilError(t, os.WriteFile(filepath.Join(mem, "memory.limit_in_bytes"), []byte(limit), 0o644))
		return &pressureCgroup{join: []string{filepath.Join(mem, "cgroup.procs"), filepath.Join(uni, "cgroup.procs")},
			limited: mem, daemonDir: uni}
	}
	// Pure cgroup v2: a group of its own with memory.max (its stall also
	// counts system-wide, which the daemon reads).
	ctrl, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	assert.NilError(t, err)
	assert.Assert(t, strings.Contains(string(ctrl), "memory"), "the memory controller is not enabled for /sys/fs/cgroup's children")
	dir := filepath.Join("/sys/fs/cgroup", name)
	mk(dir)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "memory.max"), []byte(limit), 0o644))
	_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
	return &pressureCgroup{join: []string{filepath.Join(dir, "cgroup.procs")}, limited: dir}
}

// startHog runs memhog in the groups; stop kills it and waits until the
// limited group is empty.
func (cg *pressureCgroup) startHog(t *testing.T, hog, file string) (stop func()) {
	t.Helper()
	cmd := exec.Command(hog, "-file", file, "-anon", "24", "-procs", "16", "-join", strings.Join(cg.join, ","))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	assert.NilError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		procs := filepath.Join(cg.limited, "cgroup.procs")
		killProcs(procs)
		<-done
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if data, _ := os.ReadFile(procs); len(bytes.TrimSpace(data)) > 0 {
				killProcs(procs)
				return poll.Continue("memhog processes left: %s", data)
			}
			return poll.Success()
		}, poll.WithTimeout(10*time.Second), poll.WithDelay(50*time.Millisecond))
		assert.Check(t, stderr.Len() == 0 || strings.Contains(stderr.String(), "killed"), "memhog: %s", stderr.String())
	}
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			stop()
		}
	})
	return stop
}

func killProcs(procsFile string) {
	data, _ := os.ReadFile(procsFile)
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func buildMemhog(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "memhog")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hyperbox/hyperbox/tests/testutil/memhog").CombinedOutput()
	assert.NilError(t, err, string(out))
	return bin
}

// hogFile writes the file memhog reads: as large as the limit, on a disk
// file system (a tmpfs file's pages could not be reclaimed at all).
func hogFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var fs unix.Statfs_t
	assert.NilError(t, unix.Statfs(dir, &fs))
	if fs.Type == unix.TMPFS_MAGIC {
		var err error
		dir, err = os.MkdirTemp("/var/tmp", "hbx-memhog-")
		assert.NilError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	p := filepath.Join(dir, "pages")
	f, err := os.Create(p)
	assert.NilError(t, err)
	_, err = io.CopyN(f, rand.New(rand.NewSource(1)), hogLimit)
	assert.NilError(t, err)
	assert.NilError(t, f.Close())
	return p
}
