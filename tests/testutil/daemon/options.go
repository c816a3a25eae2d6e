package daemon

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Option configures a daemon started with Start or Launch.
type Option func(*Daemon)

// WithArgs appends args to the daemon's command line, after the harness's own
// -H unix://<socket>, --data-root, --exec-root and --log-level flags (so a
// further -H adds a listener; the harness still waits on the unix socket).
func WithArgs(args ...string) Option {
	return func(d *Daemon) { d.extraArgs = append(d.extraArgs, args...) }
}

// WithCgroup2 starts the daemon in the cgroup v2 group at dir (on a v1/v2
// hybrid host, a directory of the unified hierarchy), so that its own
// cgroup's pressure files are that group's. The test owns the group.
func WithCgroup2(dir string) Option {
	return func(d *Daemon) { d.cgroup2 = dir }
}

// Root returns the daemon's private directory under /tmp (socket, data-root,
// exec-root, log), removed on Shutdown.
func (d *Daemon) Root() string { return d.root }

// Terminate sends SIGTERM and waits up to timeout for the daemon to exit. It
// returns nil when the daemon exited with status 0 in time, else an error
// saying how it exited or that it is still running (Stop or Shutdown then
// kills it). Restart starts it again on the same directories.
func (d *Daemon) Terminate(timeout time.Duration) error {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return errors.New("daemon was never started")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		return fmt.Errorf("%s still running %s after SIGTERM", d.target, timeout)
	}
	d.mu.Lock()
	err := d.exitErr
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s exited after SIGTERM: %w", d.target, err)
	}
	return nil
}

// CleanDir does for a directory of the caller's what Shutdown does for a
// daemon's own: it kills every process tied to root (command line mentions
// it, or its root or working directory is below it), lazily unmounts
// everything below it and removes it. For tests that run a daemon binary
// themselves, e.g. to see it refuse to start.
func CleanDir(root string) error {
	var errs []error
	killed, err := killLeftovers(root)
	if err != nil {
		errs = append(errs, err)
	}
	if len(killed) > 0 {
		fmt.Fprintf(os.Stderr, "daemon.CleanDir: killed leftover processes of %s: %v\n", root, killed)
	}
	for round := 0; round < 5; round++ {
		mps, err := MountsUnder(root)
		if err != nil || len(mps) == 0 {
			break
		}
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	if mps, _ := MountsUnder(root); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("still mounted under %s: %v", root, mps))
	}
	if err := os.RemoveAll(root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
