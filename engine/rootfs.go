package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/hyperbox/hyperbox/engine/internal/fsview"
)

// rootfsMode says which view of a container's files an operation needs.
type rootfsMode int

const (
	// rootfsRead is the container's view, read-only: a running container's
	// own root (with its mounts), otherwise its snapshot with its hosts
	// files bound in, as dockerd mounts a stopped container for docker cp.
	rootfsRead rootfsMode = iota
	// rootfsWrite is rootfsRead writable. A container that is not running
	// stays locked (it cannot start) until the view is closed.
	rootfsWrite
	// rootfsSnapshot is the root filesystem snapshot alone, read-only,
	// whatever the container's state (export).
	rootfsSnapshot
)

// view is an open view of a container's files.
type view struct {
	// root is the directory handle every path is resolved under.
	root *os.File
	rec  Container
	// live is true when root is a running container's own root.
	live    bool
	closers []func()
}

func (v *view) fs() *fsview.Root { return fsview.New(v.root) }

func (v *view) close() {
	for i := len(v.closers) - 1; i >= 0; i-- {
		v.closers[i]()
	}
}

// WithRootfs calls fn with the root of container ref's filesystem as the
// container sees it, writable: a running (or paused) container's own root,
// including its mounts; a created or stopped one's snapshot mounted (never
// attached to any mount namespace when the kernel allows) with its hosts
// files, the container held so it cannot start meanwhile. root names a
// directory handle ("/proc/self/fd/N"): resolve paths under it only with
// openat2(RESOLVE_IN_ROOT) or equivalent, never by joining strings, or a
// symlink in the container can lead to the host. Errors: NotFound,
// Conflict (removal in progress).
func (e *Engine) WithRootfs(ctx context.Context, ref string, fn func(root string) error) error {
	return e.withView(ctx, ref, rootfsWrite, func(v *view) error {
		return fn("/proc/self/fd/" + strconv.Itoa(int(v.root.Fd())))
	})
}

// withView opens the view mode of container ref, calls fn and closes it.
func (e *Engine) withView(ctx context.Context, ref string, mode rootfsMode, fn func(*view) error) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	v, err := e.openView(ctx, c, mode)
	if err != nil {
		return err
	}
	defer v.close()
	return fn(v)
}

// openView opens a view of c. A running container's root is reached
// through a pidfd-checked /proc/<pid>/root; when it exits meanwhile, the
// snapshot is used instead.
func (e *Engine) openView(ctx context.Context, c *ctr, mode rootfsMode) (*view, error) {
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.removing {
			c.mu.Unlock()
			return nil, fmt.Errorf("container %s is marked for removal: %w", c.rec.ID, errdefs.ErrConflict)
		}
		v := &view{rec: c.rec}
		if c.rec.State.Running && mode != rootfsSnapshot {
			pid := c.rec.State.Pid
			c.mu.Unlock()
			root, err := openProcRoot(pid)
			if err == nil {
				v.root, v.live = root, true
				v.closers = append(v.closers, func() { root.Close() })
				return v, nil
			}
			if attempt > 0 {
				return nil, fmt.Errorf("container %s: open root of pid %d: %w", v.rec.ID, pid, err)
			}
			continue // it exited: look again
		}
		if !c.rec.State.Running {
			// Its runtime may still hold the rootfs mounted for a moment
			// after the exit (finishRun).
			c.waitTaskGone()
		}
		if mode == rootfsRead && c.rec.State.StartedAt.IsZero() {
			// Never started: the runtime has not made the hosts files'
			// mount targets yet; make them (as dockerd's view does) so
			// they can be bound.
			e.makeMountTargets(ctx, v)
		}
		if mode == rootfsWrite {
			// Held until the view closes: no start, stop or removal
			// while the snapshot is mounted writable here.
			v.closers = append(v.closers, c.mu.Unlock)
		} else {
			c.mu.Unlock()
		}
		if err := e.mountSnapshot(ctx, v, mode == rootfsWrite); err != nil {
			v.close()
			return nil, err
		}
		if mode != rootfsSnapshot {
			e.bindHostFiles(ctx, v, mode == rootfsWrite)
		}
		return v, nil
	}
}

// openProcRoot opens /proc/<pid>/root, checking with a pidfd that pid
// was the same live process before and after.
func openProcRoot(pid int) (*os.File, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("no process: %w", errdefs.ErrNotFound)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/proc/"+strconv.Itoa(pid)+"/root"), nil
}

// snapshotMounts returns the mounts of the container's snapshot.
func (e *Engine) snapshotMounts(ctx context.Context, id string) ([]mount.Mount, error) {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	mounts, err := sn.Mounts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("snapshot of container %s: %w", id, err)
	}
	return mounts, nil
}

// mountSnapshot mounts the container's snapshot for v: writable as is,
// or read-only with the writable layer as the top lower layer (safe next
// to the same snapshot mounted by a running container).
func (e *Engine) mountSnapshot(ctx context.Context, v *view, writable bool) error {
	mounts, err := e.snapshotMounts(ctx, v.rec.ID)
	if err != nil {
		return err
	}
	root, closer, err := e.mountDetached(ctx, mounts, writable)
	if err != nil {
		return fmt.Errorf("mount snapshot of container %s: %w", v.rec.ID, err)
	}
	v.root = root
	v.closers = append(v.closers, closer)
	return nil
}

// overlayOptions is an overlay mount's options, split up.
type overlayOptions struct {
	lower       []string
	upper, work string
	extra       []string
}

func parseOverlay(opts []string) overlayOptions {
	var o overlayOptions
	for _, opt := range opts {
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "lowerdir":
			o.lower = strings.Split(v, ":")
		case "upperdir":
			o.upper = v
		case "workdir":
			o.work = v
		default:
			o.extra = append(o.extra, opt)
		}
	}
	return o
}

// mountDetached mounts a snapshot where nobody else can see it: an
// overlay with the new mount API (fsopen/fsmount, never attached to a
// mount namespace, gone when the returned handle and what was opened
// through it are closed), or a bind snapshot's directory as is. Other
// mount types, or kernels without "lowerdir+", fall back to mounting under
// the exec root. Read-only views of an overlay put the writable layer on
// top of the lower ones instead of using it as upperdir.
func (e *Engine) mountDetached(ctx context.Context, mounts []mount.Mount, writable bool) (*os.File, func(), error) {
	if len(mounts) == 1 {
		m := mounts[0]
		switch {
		case m.Type == "bind" && !hasIDMap(m.Options):
			f, err := os.Open(m.Source)
			if err != nil {
				return nil, nil, err
			}
			return f, func() { f.Close() }, nil
		case m.Type == "overlay" && !hasIDMap(m.Options):
			o := parseOverlay(m.Options)
			if !writable && o.upper != "" {
				o.lower = append([]string{o.upper}, o.lower...)
				o.upper, o.work = "", ""
			}
			f, err := fsmountOverlay(o, !writable)
			if err == nil {
				return f, func() { f.Close() }, nil
			}
			log.G(ctx).WithError(err).Debug("detached overlay mount failed; mounting under the exec root")
		}
	}
	return e.tempMount(ctx, mounts, writable)
}

func hasIDMap(opts []string) bool {
	for _, o := range opts {
		if strings.HasPrefix(o, "uidmap=") || strings.HasPrefix(o, "gidmap=") {
			return true
		}
	}
	return false
}

// mountAttrs are the per-mount flags among mount options.
var mountAttrs = map[string]int{
	"ro": unix.MOUNT_ATTR_RDONLY, "nosuid": unix.MOUNT_ATTR_NOSUID, "nodev": unix.MOUNT_ATTR_NODEV,
	"noexec": unix.MOUNT_ATTR_NOEXEC, "noatime": unix.MOUNT_ATTR_NOATIME, "rw": 0,
}

// fsmountOverlay creates a detached overlay mount and returns its root.
func fsmountOverlay(o overlayOptions, readOnly bool) (*os.File, error) {
	if len(o.lower) < 2 && o.upper == "" {
		return nil, errors.New("a read-only overlay needs two lower layers")
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return fmt.Errorf("overlay option %s=%s: %w", k, v, err)
		}
		return nil
	}
	for _, l := range o.lower {
		if err := set("lowerdir+", l); err != nil {
			return nil, err
		}
	}
	if o.upper != "" {
		if err := set("upperdir", o.upper); err != nil {
			return nil, err
		}
		if err := set("workdir", o.work); err != nil {
			return nil, err
		}
	}
	attrs := 0
	if readOnly {
		attrs |= unix.MOUNT_ATTR_RDONLY
	}
	for _, opt := range o.extra {
		k, v, hasValue := strings.Cut(opt, "=")
		if a, ok := mountAttrs[opt]; ok && !hasValue {
			attrs |= a
			continue
		}
		if readOnly && k == "volatile" {
			continue // only meaningful with an upper layer
		}
		if hasValue {
			err = set(k, v)
		} else if err = unix.FsconfigSetFlag(fsfd, k); err != nil {
			err = fmt.Errorf("overlay option %s: %w", k, err)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("create overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	return os.NewFile(uintptr(mfd), "overlay"), nil
}

// tempMount mounts under <exec root>/rootfs/ and unmounts (lazily, with
// everything below) when closed.
func (e *Engine) tempMount(ctx context.Context, mounts []mount.Mount, writable bool) (*os.File, func(), error) {
	base := filepath.Join(e.opts.ExecRoot, "rootfs")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(base, "m-")
	if err != nil {
		return nil, nil, err
	}
	ms := make([]mount.Mount, len(mounts))
	for i, m := range mounts {
		ms[i] = m
		ms[i].Options = append([]string(nil), m.Options...)
		if !writable {
			ms[i].Options = append(ms[i].Options, "ro")
		}
	}
	unmount := func() {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			log.G(ctx).WithError(err).WithField("dir", dir).Warn("unmount container rootfs")
		}
		_ = os.Remove(dir)
	}
	if err := mount.All(ms, dir); err != nil {
		unmount()
		return nil, nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		unmount()
		return nil, nil, err
	}
	return f, func() { f.Close(); unmount() }, nil
}

// hostFile is a file the daemon keeps for a container and binds over a
// path in it.
type hostFile struct{ src, dst string }

func hostFiles(rec *Container) []hostFile {
	fs := []hostFile{{rec.HostsPath, "/etc/hosts"}, {rec.ResolvPath, "/etc/resolv.conf"}}
	if rec.Spec.NetworkMode != "host" {
		fs = append(fs, hostFile{rec.HostnamePath, "/etc/hostname"})
	}
	return fs
}

// bindHostFiles binds the container's hosts, resolv.conf and hostname
// files over their places in a snapshot view, as dockerd's stopped
// container view has them; writable views create missing targets, as
// dockerd does. Failures (an old kernel that cannot mount into a detached
// tree, an image without /etc) leave the snapshot's own files visible.
func (e *Engine) bindHostFiles(ctx context.Context, v *view, create bool) {
	r := v.fs()
	for _, hf := range hostFiles(&v.rec) {
		if hf.src == "" {
			continue
		}
		if err := bindFile(r, hf.src, hf.dst, create); err != nil {
			log.G(ctx).WithError(err).WithField("path", hf.dst).Debug("hosts file not bound into container view")
		}
	}
}

// makeMountTargets creates the hosts files' targets in a never-started
// container's snapshot, mounting it writable for a moment. The caller holds
// the container's lock. Failures are left to bindHostFiles to ignore.
func (e *Engine) makeMountTargets(ctx context.Context, v *view) {
	w := &view{rec: v.rec}
	if err := e.mountSnapshot(ctx, w, true); err != nil {
		log.G(ctx).WithError(err).Debug("mount targets not created")
		return
	}
	defer w.close()
	r := w.fs()
	for _, hf := range hostFiles(&w.rec) {
		if hf.src == "" {
			continue
		}
		if f, err := r.OpenFile(hf.dst, true); err == nil {
			f.Close()
		}
	}
}

func bindFile(r *fsview.Root, src, dst string, create bool) error {
	target, err := r.OpenFile(dst, create)
	if err != nil {
		return err
	}
	defer target.Close()
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s: %w", dst, err)
	}
	return nil
}
