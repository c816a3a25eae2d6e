package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/hyperbox/hyperbox/engine/volume"
)

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount is one filesystem mounted into a container: a host path (bind), a
// local volume or a tmpfs.
type Mount struct {
	// Type is MountBind, MountVolume or MountTmpfs.
	Type string
	// Source is the host path of a bind or the name of a volume. A volume
	// mount with no Source gets a new volume with a generated name at
	// create, and Source is set to it. Unused for tmpfs.
	Source string
	// Destination is the absolute, clean path in the container.
	Destination string
	ReadOnly    bool
	// Propagation of a bind: "rprivate" (when empty), "private",
	// "rshared", "shared", "rslave" or "slave".
	Propagation string
	// NonRecursive binds the source alone, not the mounts below it.
	NonRecursive bool
	// CreateSource creates a missing bind source as a directory when the
	// container starts; otherwise create refuses a missing source.
	CreateSource bool
	// NoCopy leaves an empty volume empty; otherwise the image's files at
	// Destination are copied into it when the container is created.
	NoCopy bool
	// VolumeLabels and VolumeOptions (driver options) are the volume's
	// when this mount creates it.
	VolumeLabels  map[string]string
	VolumeOptions map[string]string
	// Anonymous marks a volume that belongs to the container: removing
	// the container with RemoveVolumes removes it too, if no other
	// container uses it.
	Anonymous bool
	// TmpfsOptions are tmpfs mount options ("size=65536k", "mode=1777",
	// "exec"); "nosuid,nodev,noexec" come first.
	TmpfsOptions []string
	// Mode is data the caller keeps with the mount (compat: Docker's mode
	// string); the engine does not read it.
	Mode string

	// HostPath is set at create: the bind source or the volume's data
	// directory.
	HostPath string
	// Driver is set at create for volumes.
	Driver string
}

// checkDestination refuses destinations a runtime cannot mount on.
func checkDestination(dst string) error {
	switch {
	case !path.IsAbs(dst):
		return fmt.Errorf("mount destination %q is not absolute: %w", dst, errdefs.ErrInvalidArgument)
	case path.Clean(dst) != dst:
		return fmt.Errorf("mount destination %q is not clean: %w", dst, errdefs.ErrInvalidArgument)
	case dst == "/":
		return fmt.Errorf("mount destination cannot be /: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// setupMounts checks rec's mounts and takes its volumes: named ones are
// created when missing, anonymous ones created under a new name; each gets
// rec as a reference. It fills Source, HostPath and Driver. On error the
// references already taken are released (call releaseMounts).
func (e *Engine) setupMounts(rec *Container) error {
	rec.Spec.Mounts = slices.Clone(rec.Spec.Mounts)
	seen := map[string]bool{}
	for i := range rec.Spec.Mounts {
		m := &rec.Spec.Mounts[i]
		if err := checkDestination(m.Destination); err != nil {
			return err
		}
		if seen[m.Destination] {
			return fmt.Errorf("duplicate mount point %s: %w", m.Destination, errdefs.ErrInvalidArgument)
		}
		seen[m.Destination] = true
		switch m.Type {
		case MountVolume:
			v, created, err := e.vols.Create(m.Source, volume.CreateOptions{Labels: m.VolumeLabels, Options: m.VolumeOptions}, rec.ID)
			if err != nil {
				return err
			}
			if created {
				e.volumeEvent("create", v.Name, nil)
			}
			m.Source, m.HostPath, m.Driver = v.Name, v.Mountpoint, v.Driver
		case MountBind:
			if !filepath.IsAbs(m.Source) {
				return fmt.Errorf("bind source %q is not absolute: %w", m.Source, errdefs.ErrInvalidArgument)
			}
			m.Source = filepath.Clean(m.Source)
			m.HostPath = m.Source
			if !m.CreateSource {
				if _, err := os.Stat(m.Source); err != nil {
					return fmt.Errorf("bind source path does not exist: %s: %w", m.Source, errdefs.ErrInvalidArgument)
				}
			}
		case MountTmpfs:
		default:
			return fmt.Errorf("mount type %q: %w", m.Type, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// releaseMounts drops rec's references to its volumes and, with
// removeAnonymous, removes its anonymous volumes that no other container
// uses (as dockerd's `rm -v`, which leaves named volumes alone).
func (e *Engine) releaseMounts(ctx context.Context, rec *Container, removeAnonymous bool) {
	for _, m := range rec.Spec.Mounts {
		if m.Type != MountVolume || m.Source == "" {
			continue
		}
		e.vols.Release(m.Source, rec.ID)
		if !removeAnonymous || !m.Anonymous {
			continue
		}
		if err := e.VolumeRemove(ctx, m.Source); err != nil && !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("volume", m.Source).Warn("remove anonymous volume")
		}
	}
}

// restoreMountRefs records the volume references of every container after
// a daemon restart, and counts the volume mounts of the running ones (a
// volume with a device stays mounted while they run); volumes left mounted
// with no running user are unmounted. Each container is looked at under its
// lock, so a run that ends or a removal meanwhile is counted once.
func (e *Engine) restoreMountRefs(ctx context.Context) {
	e.mu.RLock()
	all := make([]*ctr, 0, len(e.byID))
	for _, c := range e.byID {
		all = append(all, c)
	}
	e.mu.RUnlock()
	for _, c := range all {
		c.mu.Lock()
		for _, m := range c.rec.Spec.Mounts {
			if m.Type != MountVolume || m.Source == "" || c.removing {
				continue
			}
			if err := e.vols.AddRef(m.Source, c.rec.ID); err != nil {
				log.G(ctx).WithError(err).WithField("id", c.rec.ID).Warn("volume of container is gone")
				continue
			}
			if c.rec.State.Running {
				e.vols.RestoreMount(m.Source)
			}
		}
		c.mu.Unlock()
	}
	for _, err := range e.vols.UnmountIdle() {
		log.G(ctx).WithError(err).Warn("unmount idle volume")
	}
}

// prepareMounts readies rec's mounts for a start: it creates the missing
// bind sources that may be created (as dockerd does at each start for
// `-v /host:/ctr`) and mounts the volumes that have a device. undo
// unmounts them again when the start fails.
func (e *Engine) prepareMounts(rec *Container) (undo func(), err error) {
	var done []string
	undo = func() {
		for _, name := range done {
			if err := e.vols.Unmount(name); err != nil {
				log.G(e.rootCtx).WithError(err).WithField("volume", name).Warn("unmount volume")
			}
		}
	}
	for _, m := range rec.Spec.Mounts {
		switch {
		case m.Type == MountBind && m.CreateSource:
			if err := os.MkdirAll(m.HostPath, 0o755); err != nil && !errors.Is(err, unix.ENOTDIR) {
				undo()
				return nil, fmt.Errorf("error while creating mount source path '%s': %w", m.HostPath, err)
			}
		case m.Type == MountVolume:
			if _, err := e.vols.Mount(m.Source); err != nil {
				undo()
				return nil, fmt.Errorf("error while mounting volume '%s': %w", m.HostPath, err)
			}
			done = append(done, m.Source)
		}
	}
	return undo, nil
}

// volumesStopped ends a run's volume mounts: an "unmount" event each, and
// the devices of volumes no other running container uses are unmounted.
func (e *Engine) volumesStopped(rec *Container) {
	e.mountEvents(rec, "unmount")
	for _, m := range rec.Spec.Mounts {
		if m.Type != MountVolume {
			continue
		}
		if err := e.vols.Unmount(m.Source); err != nil {
			log.G(e.rootCtx).WithError(err).WithField("volume", m.Source).Warn("unmount volume")
		}
	}
}

// mountEvents publishes a volume "mount" (at start) or "unmount" (at exit)
// event for each volume of rec, with dockerd's attributes.
func (e *Engine) mountEvents(rec *Container, action string) {
	for _, m := range rec.Spec.Mounts {
		if m.Type != MountVolume {
			continue
		}
		attrs := map[string]string{"container": rec.ID}
		if action == "mount" {
			attrs["destination"] = m.Destination
			attrs["read/write"] = strconv.FormatBool(!m.ReadOnly)
			attrs["propagation"] = ""
		}
		e.volumeEvent(action, m.Source, attrs)
	}
}
