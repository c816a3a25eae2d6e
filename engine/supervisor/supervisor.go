// Package supervisor runs and supervises the containerd child that hyperboxd
// embeds when no external containerd address is configured.
//
// The child gets its own root (under the data-root), state and sockets (under
// the exec-root), so it never collides with a system containerd. Shims are
// started by containerd in their own sessions, so containers outlive both the
// child and hyperboxd; a new child reconnects to them on start.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// Config describes where the embedded containerd lives.
type Config struct {
	// Binary is the containerd executable; its directory must also hold
	// containerd-shim-runc-v2.
	Binary string
	// Root holds persistent state (content store, snapshots, metadata).
	Root string
	// State holds runtime state and the sockets.
	State string
	// LogLevel is passed to containerd's --log-level.
	LogLevel string
	// LogFile receives containerd's output.
	LogFile string
}

// Supervisor owns one containerd child process and restarts it if it dies.
type Supervisor struct {
	cfg Config

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopping bool
	done     chan struct{}
}

// Address is the containerd gRPC socket the child listens on.
func (c Config) Address() string { return filepath.Join(c.State, "containerd.sock") }

func (c Config) pidFile() string    { return filepath.Join(c.State, "containerd.pid") }
func (c Config) configFile() string { return filepath.Join(c.State, "config.toml") }

// disabledPlugins are containerd plugins hyperboxd never uses; disabling them
// keeps start-up fast and avoids the CRI plugin touching the host network.
var disabledPlugins = []string{
	"io.containerd.grpc.v1.cri",
	"io.containerd.cri.v1.images",
	"io.containerd.cri.v1.runtime",
	"io.containerd.podsandbox.controller.v1.podsandbox",
	"io.containerd.sandbox.controller.v1.shim",
	"io.containerd.nri.v1.nri",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

func (c Config) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version = 3\nroot = %q\nstate = %q\n", c.Root, filepath.Join(c.State, "state"))
	b.WriteString("disabled_plugins = [")
	for i, p := range disabledPlugins {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString("]\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n\n", c.Address())
	fmt.Fprintf(&b, "[ttrpc]\n  address = %q\n\n", filepath.Join(c.State, "containerd.sock.ttrpc"))
	b.WriteString("[debug]\n  address = \"\"\n\n[metrics]\n  address = \"\"\n")
	return b.String()
}

// Start launches the child and waits until it answers on its socket. A child
// left behind by an earlier hyperboxd that was killed is stopped first.
func Start(ctx context.Context, cfg Config) (*Supervisor, error) {
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.State, 0o711); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg.configFile(), []byte(cfg.render()), 0o600); err != nil {
		return nil, err
	}
	stopStale(ctx, cfg)
	s := &Supervisor{cfg: cfg, done: make(chan struct{})}
	if err := s.spawn(ctx); err != nil {
		return nil, err
	}
	go s.monitor(context.WithoutCancel(ctx))
	return s, nil
}

// stopStale terminates a containerd recorded in our pid file, if that process
// is still a containerd (pids are reused).
func stopStale(ctx context.Context, cfg Config) {
	data, err := os.ReadFile(cfg.pidFile())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "containerd" {
		return
	}
	log.G(ctx).WithField("pid", pid).Warn("stopping containerd left behind by an earlier hyperboxd")
	_ = unix.Kill(pid, unix.SIGTERM)
	for i := 0; i < 100; i++ {
		if unix.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = unix.Kill(pid, unix.SIGKILL)
}

func (s *Supervisor) spawn(ctx context.Context) error {
	_ = os.Remove(s.cfg.Address())
	logf, err := os.OpenFile(s.cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	level := s.cfg.LogLevel
	if level == "" {
		level = "info"
	}
	cmd := exec.Command(s.cfg.Binary, "--config", s.cfg.configFile(), "--log-level", level)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The shim must be found next to containerd; crun and runc on the PATH.
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(s.cfg.Binary)+":"+os.Getenv("PATH"))
	// Own process group: a Ctrl-C on hyperboxd's terminal must not reach the
	// child directly; hyperboxd stops it in order on shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start containerd %s: %w", s.cfg.Binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	_ = os.WriteFile(s.cfg.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := dialUnix(s.cfg.Address()); err == nil {
			c.Close()
			log.G(ctx).WithField("pid", cmd.Process.Pid).Info("embedded containerd is up")
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("containerd exited during start-up; see %s", s.cfg.LogFile)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return errors.New("containerd did not start listening within 30s")
		}
	}
}

func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// monitor restarts the child when it dies unexpectedly, with a capped back-off.
func (s *Supervisor) monitor(ctx context.Context) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for {
		s.mu.Lock()
		exited := s.exited
		s.mu.Unlock()
		<-exited
		s.mu.Lock()
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		log.G(ctx).Errorf("embedded containerd exited unexpectedly; restarting in %s", backoff)
		time.Sleep(backoff)
		if err := s.spawn(ctx); err != nil {
			log.G(ctx).WithError(err).Error("restart of embedded containerd failed")
			backoff = min(backoff*2, 10*time.Second)
			// spawn left a fresh exited channel only if the process started;
			// make sure the loop does not spin on the old one.
			s.mu.Lock()
			if s.exited == exited {
				ch := make(chan struct{})
				close(ch)
				s.exited = ch
			}
			s.mu.Unlock()
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// Pid is the process id of the current child.
func (s *Supervisor) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop terminates the child (SIGTERM, then SIGKILL after timeout) and waits
// for it. Running containers are unaffected: their shims keep them alive.
func (s *Supervisor) Stop(timeout time.Duration) {
	s.mu.Lock()
	s.stopping = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	<-s.done
	_ = os.Remove(s.cfg.pidFile())
}
