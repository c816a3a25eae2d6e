// Package daemon starts the Docker-API daemon under test (hyperboxd, or the
// real dockerd as the oracle) on private directories and gives tests a docker
// CLI, a moby Go client and raw HTTP bound to it.
//
// Environment:
//
//	HYPERBOX_TEST_TARGET  "hyperbox" (default) or "dockerd"
//	HYPERBOXD             path of the hyperboxd binary (default <repo>/bin/hyperboxd)
//	DOCKER_CLI            docker CLI to run (default /usr/local/bin/docker if present, else docker on PATH)
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	EnvTarget    = "HYPERBOX_TEST_TARGET"
	EnvHyperboxd = "HYPERBOXD"
	EnvDockerCLI = "DOCKER_CLI"
)

// Targets.
const (
	TargetHyperbox = "hyperbox"
	TargetDockerd  = "dockerd"
)

// ReadyTimeout bounds how long Start waits for GET /_ping to answer 200.
const ReadyTimeout = 60 * time.Second

// Target returns the daemon kind the tests run against.
func Target() string {
	switch t := strings.TrimSpace(os.Getenv(EnvTarget)); t {
	case "", TargetHyperbox:
		return TargetHyperbox
	case "docker":
		return TargetDockerd
	default:
		return t
	}
}

// IsOracle reports whether the tests run against the real dockerd.
func IsOracle() bool { return Target() == TargetDockerd }

// CLIPath returns the docker CLI the tests use: $DOCKER_CLI, else
// /usr/local/bin/docker (the v28 CLI; Debian's docker.io puts a 20.10 CLI in
// /usr/bin), else docker from PATH.
func CLIPath() string {
	if p := os.Getenv(EnvDockerCLI); p != "" {
		return p
	}
	if fi, err := os.Stat("/usr/local/bin/docker"); err == nil && !fi.IsDir() {
		return "/usr/local/bin/docker"
	}
	if p, err := exec.LookPath("docker"); err == nil {
		return p
	}
	return "docker"
}

// Daemon is a daemon under test with its own socket, data-root and exec-root.
type Daemon struct {
	target string

	root       string // short private directory under /tmp, removed on Shutdown
	sock       string
	dataRoot   string
	execRoot   string
	pidFile    string
	logPath    string
	configDir  string   // DOCKER_CONFIG for the CLI
	cgroup     string   // dockerd only: --cgroup-parent, removed on Shutdown
	extraArgs  []string // WithArgs: appended to the daemon's command line
	cgroup2    string   // WithCgroup2: the group the daemon starts in
	networking bool     // WithNetworking
	hostNet    *hostNet // dockerd WithNetworking: what teardown restores

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	logFile *os.File
}

// Start launches a daemon for one test (or subtest tree) and tears it down in
// t.Cleanup. On failure the last 100 lines of the daemon log are printed.
// Options (WithArgs) adjust the daemon's command line.
func Start(t testing.TB, opts ...Option) *Daemon {
	t.Helper()
	d, err := Launch(opts...)
	if err != nil {
		t.Fatalf("starting %s: %v", Target(), err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last 100 lines of the %s log (full log kept at %s):\n%s", d.target, d.SaveLog(t.Name()), d.LogTail(100))
		}
		if err := d.Shutdown(); err != nil {
			t.Errorf("daemon teardown: %v", err)
		}
	})
	return d
}

// Launch starts a daemon without a testing.T (for TestMain). Call Shutdown.
func Launch(opts ...Option) (*Daemon, error) {
	target := Target()
	if target != TargetHyperbox && target != TargetDockerd {
		return nil, fmt.Errorf("%s=%q: want %q or %q", EnvTarget, target, TargetHyperbox, TargetDockerd)
	}
	// Unix socket paths are limited to 108 bytes and t.TempDir() paths can be
	// long, so the daemon's directories live in a short dir of our own.
	root, err := os.MkdirTemp("/tmp", "hbx-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		target:    target,
		root:      root,
		sock:      filepath.Join(root, "d.sock"),
		dataRoot:  filepath.Join(root, "data"),
		execRoot:  filepath.Join(root, "exec"),
		pidFile:   filepath.Join(root, "d.pid"),
		logPath:   filepath.Join(root, "daemon.log"),
		configDir: filepath.Join(root, "cli"),
	}
	if target == TargetDockerd {
		d.cgroup = filepath.Base(root)
	}
	for _, o := range opts {
		o(d)
	}
	for _, dir := range []string{d.dataRoot, d.execRoot, d.configDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			_ = os.RemoveAll(root)
			return nil, err
		}
	}
	if err := d.setupNetworking(); err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	if err := d.start(); err != nil {
		tail := d.LogTail(100)
		_ = d.Shutdown()
		return nil, fmt.Errorf("%w\ndaemon log:\n%s", err, tail)
	}
	return d, nil
}

// Target returns "hyperbox" or "dockerd".
func (d *Daemon) Target() string { return d.target }

// Host returns the DOCKER_HOST value, "unix://<socket>".
func (d *Daemon) Host() string { return "unix://" + d.sock }

// Socket returns the path of the API socket.
func (d *Daemon) Socket() string { return d.sock }

// DataRoot returns the daemon's --data-root.
func (d *Daemon) DataRoot() string { return d.dataRoot }

// ExecRoot returns the daemon's --exec-root.
func (d *Daemon) ExecRoot() string { return d.execRoot }

// LogPath returns the file that receives the daemon's stdout and stderr.
func (d *Daemon) LogPath() string { return d.logPath }

// Pid returns the daemon process ID, or 0 when it is not running.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

func (d *Daemon) args() ([]string, error) {
	switch d.target {
	case TargetDockerd:
		bin, err := exec.LookPath("dockerd")
		if err != nil {
			return nil, fmt.Errorf("dockerd not found on PATH (apt-get install -y docker.io): %w", err)
		}
		cfg := filepath.Join(d.root, "daemon.json")
		if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
			return nil, err
		}
		args := []string{bin,
			"-H", d.Host(),
			"--data-root", d.dataRoot,
			"--exec-root", d.execRoot,
			"--pidfile", d.pidFile,
			// An empty config file of our own, so the host's /etc/docker/daemon.json does not leak in.
			"--config-file", cfg,
		}
		args = append(args, d.dockerdNetArgs()...)
		return append(args,
			"--live-restore",
			// dockerd starts its own containerd under exec-root; unique namespaces
			// and cgroup parent keep it apart from anything else on the host.
			"--containerd-namespace", d.cgroup,
			"--containerd-plugins-namespace", d.cgroup+"-plugins",
			"--cgroup-parent", "/"+d.cgroup,
			"--log-level", "debug",
		), nil
	default:
		bin, err := HyperboxdPath()
		if err != nil {
			return nil, err
		}
		return []string{bin,
			"-H", d.Host(),
			"--data-root", d.dataRoot,
			"--exec-root", d.execRoot,
			"--log-level", "debug",
		}, nil
	}
}

// HyperboxdPath returns $HYPERBOXD or <repo root>/bin/hyperboxd.
func HyperboxdPath() (string, error) {
	if p := os.Getenv(EnvHyperboxd); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvHyperboxd, p, err)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", "hyperboxd")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("hyperboxd not found at %s: build it (go build -o bin/hyperboxd ./cmd/hyperboxd), set %s, or run against the oracle with %s=dockerd", p, EnvHyperboxd, EnvTarget)
	}
	return p, nil
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

func (d *Daemon) start() error {
	args, err := d.args()
	if err != nil {
		return err
	}
	args = append(args, d.extraArgs...)
	lf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(lf, "=== %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.Dir = d.root
	// If the test binary dies (e.g. -timeout panic), ask the daemon to shut down too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if d.cgroup2 != "" {
		cg, err := os.Open(d.cgroup2)
		if err != nil {
			lf.Close()
			return err
		}
		defer cg.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return err
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.exited, d.exitErr, d.logFile = cmd, exited, nil, lf
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		d.exitErr = err
		d.mu.Unlock()
		lf.Close()
		close(exited)
	}()
	return d.waitReady(exited)
}

func (d *Daemon) waitReady(exited chan struct{}) error {
	hc := d.HTTPClient()
	hc.Timeout = 2 * time.Second
	deadline := time.Now().Add(ReadyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			d.mu.Lock()
			err := d.exitErr
			d.mu.Unlock()
			return fmt.Errorf("%s exited before it was ready: %v", d.target, err)
		default:
		}
		resp, err := hc.Get("http://docker/_ping")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /_ping: %s", resp.Status)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v", d.target, ReadyTimeout, lastErr)
}

// Stop sends SIGTERM, waits up to 30s, then SIGKILLs. Containers are left
// alone (dockerd runs with --live-restore), so Restart can check that they
// survive.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if err := d.stop(); err != nil {
		t.Fatalf("stopping %s: %v", d.target, err)
	}
}

func (d *Daemon) stop() error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", d.target)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.target, cmd.Process.Pid)
	}
}

// Restart stops the daemon and starts it again on the same directories.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	if err := d.start(); err != nil {
		t.Fatalf("restarting %s: %v\nlast log lines:\n%s", d.target, err, d.LogTail(100))
	}
}

// Shutdown removes all containers, stops the daemon, kills any process left
// behind that belongs to the daemon's directories, unmounts everything under
// them and removes them. It returns what went wrong, having tried every step.
func (d *Daemon) Shutdown() error {
	var errs []error
	var proxies []int
	var netIDs []string
	if d.running() {
		if err := d.removeAllContainers(); err != nil {
			errs = append(errs, fmt.Errorf("removing containers: %w", err))
		}
		if d.networking {
			var err error
			if netIDs, err = d.removeNetworks(); err != nil {
				errs = append(errs, fmt.Errorf("removing networks: %w", err))
			}
			proxies = d.proxyChildren()
		}
	}
	if err := d.stop(); err != nil {
		errs = append(errs, err)
	}
	// A daemon built with -race (make test) reports data races in its log
	// and keeps going; a race is a failure of the suite that triggered it.
	// Known races inside embedded upstream code are let through (race.go).
	if data, err := os.ReadFile(d.logPath); err == nil && len(ourRaces(string(data))) > 0 {
		errs = append(errs, fmt.Errorf("data race reported by %s (full log kept at %s)", d.target, d.SaveLog("race")))
	}
	killed, err := killLeftovers(d.root)
	if err != nil {
		errs = append(errs, err)
	}
	if len(killed) > 0 {
		// Not an error (the daemon may leave shims of containers it could not
		// remove), but worth seeing: a clean daemon leaves nothing behind.
		fmt.Fprintf(os.Stderr, "daemon teardown: killed leftover processes of %s: %s\n", d.target, strings.Join(killed, "; "))
	}
	if err := UnmountUnder(d.root); err != nil {
		errs = append(errs, err)
	}
	if err := d.teardownNetworking(proxies, netIDs); err != nil {
		errs = append(errs, fmt.Errorf("networking teardown: %w", err))
	}
	if d.cgroup != "" {
		removeCgroups(d.cgroup)
	}
	if err := os.RemoveAll(d.root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *Daemon) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

func (d *Daemon) removeAllContainers() error {
	ids, err := d.containerIDs()
	if err != nil {
		return err
	}
	hc := d.HTTPClient()
	hc.Timeout = 60 * time.Second
	var errs []error
	for _, id := range ids {
		req, _ := http.NewRequest(http.MethodDelete, "http://docker/containers/"+id+"?force=1&v=1", nil)
		resp, err := hc.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
			errs = append(errs, fmt.Errorf("DELETE %s: %s: %s", id, resp.Status, bytes.TrimSpace(b)))
		}
	}
	return errors.Join(errs...)
}

// HTTPClient returns an http.Client that dials the daemon's socket; use any
// host in URLs, e.g. "http://docker/_ping".
func (d *Daemon) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", d.sock)
		},
		DisableKeepAlives: true,
	}}
}

// Dial opens a raw connection to the daemon's socket.
func (d *Daemon) Dial() (net.Conn, error) {
	return net.DialTimeout("unix", d.sock, 10*time.Second)
}

// SaveLog copies the daemon log out of the daemon's directory (which
// teardown removes) to $TMPDIR/hyperbox-test-logs/ and returns its path.
// Used when tests fail, so the whole log can be read afterwards.
func (d *Daemon) SaveLog(label string) string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	dir := filepath.Join(os.TempDir(), "hyperbox-test-logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Sprintf("(cannot keep log: %v)", err)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(label)
	p := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.log", d.target, name, time.Now().Format("20060102-150405")))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Sprintf("(cannot keep log: %v)", err)
	}
	return p
}

// LogTail returns the last n lines of the daemon log.
func (d *Daemon) LogTail(n int) string {
	return tail(d.logPath, 0, n)
}

// LogOnFailure prints the daemon log lines written during the test (the last
// 100) when the test fails. Use it with a daemon shared through TestMain.
func (d *Daemon) LogOnFailure(t testing.TB) {
	var off int64
	if fi, err := os.Stat(d.logPath); err == nil {
		off = fi.Size()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log during this test (last 100 lines, %s):\n%s", d.target, d.logPath, tail(d.logPath, off, 100))
		}
	})
}

func tail(path string, off int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	if off > 0 && off <= int64(len(b)) {
		b = b[off:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
