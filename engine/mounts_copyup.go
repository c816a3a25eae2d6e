package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/hyperbox/hyperbox/engine/internal/fsview"
)

// populateVolumes copies the image's files into rec's empty volumes, as
// dockerd does when it creates a container: for each volume mount without
// NoCopy whose data directory is empty, the directory at its destination
// in the container's (fresh) snapshot, with its owner and mode. A
// destination that is missing or not a directory in the image leaves the
// volume empty.
func (e *Engine) populateVolumes(ctx context.Context, rec *Container) error {
	var todo []Mount
	for _, m := range rec.Spec.Mounts {
		if m.Type != MountVolume || m.NoCopy {
			continue
		}
		// A volume with a device is looked at (and filled) mounted.
		if _, err := e.vols.Mount(m.Source); err != nil {
			return fmt.Errorf("error while mounting volume '%s': %w", m.HostPath, err)
		}
		defer func() {
			if err := e.vols.Unmount(m.Source); err != nil {
				log.G(ctx).WithError(err).WithField("volume", m.Source).Warn("unmount volume")
			}
		}()
		if emptyDir(m.HostPath) {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return e.withSnapshotReadOnly(ctx, rec.ID, func(root *os.File) error {
		for _, m := range todo {
			if err := copyImageDir(root, m.Destination, m.HostPath); err != nil {
				return fmt.Errorf("copy image files at %s to volume %s: %w", m.Destination, m.Source, err)
			}
		}
		return nil
	})
}

func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// withSnapshotReadOnly mounts container id's snapshot read-only under the
// exec root and calls fn with its root directory.
func (e *Engine) withSnapshotReadOnly(ctx context.Context, id string, fn func(root *os.File) error) error {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	ms, err := sn.Mounts(ctx, id)
	if err != nil {
		return fmt.Errorf("snapshot of container %s: %w", id, err)
	}
	base := filepath.Join(e.opts.ExecRoot, "copyup")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(base, "m-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	for i := range ms {
		ms[i].Options = append(slices.Clone(ms[i].Options), "ro")
	}
	if err := mount.All(ms, dir); err != nil {
		return fmt.Errorf("mount snapshot of container %s: %w", id, err)
	}
	defer func() {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			log.G(ctx).WithError(err).WithField("dir", dir).Warn("unmount container snapshot")
		}
	}()
	root, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fn(root)
}

// copyImageDir copies directory dst of the tree at root (resolved inside
// root, so an image's symlinks cannot lead out of it) into volDir.
func copyImageDir(root *os.File, dst, volDir string) error {
	dir, err := fsview.OpenInRoot(int(root.Fd()), dst, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	return fs.CopyDir(volDir, "/proc/self/fd/"+strconv.Itoa(int(dir.Fd())), fs.WithAllowXAttrErrors())
}
