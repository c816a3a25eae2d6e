package engine

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hyperbox/hyperbox/engine/internal/fsview"
	"github.com/hyperbox/hyperbox/storage"
)

// PathStat describes a file in a container: what `docker cp` needs.
type PathStat struct {
	Name string
	Size int64
	// Mode uses Go's os.FileMode bits (a directory has os.ModeDir).
	Mode  os.FileMode
	Mtime time.Time
	// LinkTarget is, for a symlink, where it leads inside the container,
	// fully resolved.
	LinkTarget string
}

// PathNotFoundError says that a path does not exist in a container. It
// is an errdefs NotFound.
type PathNotFoundError struct {
	Path string
}

func (e *PathNotFoundError) Error() string {
	return "no such file or directory in container: " + e.Path
}

// Unwrap classifies the error as NotFound.
func (e *PathNotFoundError) Unwrap() error { return errdefs.ErrNotFound }

// ExtractOptions control ExtractToDir.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID owns the extracted files by the container's user (when
	// it has one) instead of the IDs in the archive.
	CopyUIDGID bool
}

// pathError classifies a filesystem error about path p of a container.
func pathError(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return &PathNotFoundError{Path: p}
	case errors.Is(err, fsview.ErrNotDirectory):
		return fmt.Errorf("%s: %w", fsview.ErrNotDirectory.Error(), errdefs.ErrInvalidArgument)
	}
	return err
}

func toPathStat(s fsview.Stat) PathStat {
	return PathStat{Name: s.Name, Size: s.Size, Mode: s.Mode, Mtime: s.Mtime, LinkTarget: s.LinkTarget}
}

// StatPath describes path p in container ref as the container sees it,
// without following a last-component symlink; symlinks on the way and
// ".." are resolved inside the container. Works in every state. Errors:
// NotFound (container, or *PathNotFoundError), Conflict (being removed).
func (e *Engine) StatPath(ctx context.Context, ref, p string) (PathStat, error) {
	var st PathStat
	err := e.withView(ctx, ref, rootfsRead, func(v *view) error {
		s, err := v.fs().Stat(p)
		if err != nil {
			return pathError(p, err)
		}
		st = toPathStat(s)
		return nil
	})
	return st, err
}

// ArchivePath writes a tar of path p in container ref, as dockerd does
// for docker cp: a directory with its tree, its top entry named after the
// last element of p ("." for "dir/."), anything else as one entry. Once p
// is known to exist, start is called with its stat and returns where the
// archive goes; errors before that are the request's, after it the
// stream's. Errors: as StatPath.
func (e *Engine) ArchivePath(ctx context.Context, ref, p string, start func(PathStat) (io.Writer, error)) error {
	abs := preserveTrailingDotOrSeparator(path.Join("/", p), p)
	return e.withView(ctx, ref, rootfsRead, func(v *view) error {
		r := v.fs()
		s, err := r.Stat(abs)
		if err != nil {
			return pathError(p, err)
		}
		w, err := start(toPathStat(s))
		if err != nil {
			return err
		}
		e.emit(&v.rec, "archive-path", nil)
		return r.Archive(w, abs, s, path.Base(abs), skipLogger(ctx, v.rec.ID))
	})
}

// ExtractToDir unpacks the tar stream rd (plain or compressed) into the
// directory p of container ref. Every symlink of p is followed inside the
// container (the last one too); p must exist and be a directory. Entries
// keep their mode, times and the archive's owner, or with CopyUIDGID the
// container user's. A container that is not running is held for the
// duration (it cannot start). Errors: NotFound (container, or
// *PathNotFoundError), InvalidArgument (not a directory, read-only root
// filesystem), Conflict (being removed).
func (e *Engine) ExtractToDir(ctx context.Context, ref, p string, rd io.Reader, opts ExtractOptions) error {
	return e.withView(ctx, ref, rootfsWrite, func(v *view) error {
		r := v.fs()
		dest, err := r.ResolveDir(p)
		if err != nil {
			return pathError(p, err)
		}
		if v.rec.Spec.ReadonlyRootfs {
			return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrInvalidArgument)
		}
		xo := fsview.ExtractOptions{
			NoOverwriteDirNonDir: opts.NoOverwriteDirNonDir,
			Warn: func(name string, err error) {
				log.G(ctx).WithError(err).WithField("path", name).Warn("ignored xattr in archive")
			},
		}
		if opts.CopyUIDGID && v.rec.Spec.User != "" {
			o, err := r.LookupOwner(v.rec.Spec.User)
			if err != nil {
				return fmt.Errorf("%s: %w", err.Error(), errdefs.ErrInvalidArgument)
			}
			xo.Chown = &o
		}
		// Decompressed here, by the daemon, never by a program of the
		// container's.
		plain, err := compression.DecompressStream(bufio.NewReader(rd))
		if err != nil {
			return fmt.Errorf("%s: %w", err.Error(), errdefs.ErrInvalidArgument)
		}
		defer plain.Close()
		if err := r.Extract(plain, dest, xo); err != nil {
			return pathError(p, err)
		}
		e.emit(&v.rec, "extract-to-dir", nil)
		return nil
	})
}

// Export writes a tar of container ref's root filesystem (its snapshot,
// without the volumes and files mounted into it), as `docker export`.
// start is called once the snapshot is mounted and returns where the
// archive goes. Errors: NotFound, Conflict (being removed).
func (e *Engine) Export(ctx context.Context, ref string, start func() (io.Writer, error)) error {
	return e.withView(ctx, ref, rootfsSnapshot, func(v *view) error {
		w, err := start()
		if err != nil {
			return err
		}
		if err := v.fs().ArchiveAll(w, skipLogger(ctx, v.rec.ID)); err != nil {
			return err
		}
		e.emit(&v.rec, "export", nil)
		return nil
	})
}

// skipLogger reports files left out of an archive (they vanished or
// could not be read while the container changed them).
func skipLogger(ctx context.Context, id string) func(string, error) {
	return func(name string, err error) {
		log.G(ctx).WithError(err).WithField("container", id).WithField("path", name).Debug("left out of archive")
	}
}

// preserveTrailingDotOrSeparator puts back the trailing "/" or "/." of
// original that cleaning removed: they ask for a directory's contents.
func preserveTrailingDotOrSeparator(cleaned, original string) string {
	if path.Base(cleaned) != "." && path.Base(original) == "." {
		if !strings.HasSuffix(cleaned, "/") {
			cleaned += "/"
		}
		cleaned += "."
	}
	if !strings.HasSuffix(cleaned, "/") && strings.HasSuffix(original, "/") {
		cleaned += "/"
	}
	return cleaned
}

// ChangeKind says how a path in a container differs from its image.
type ChangeKind int

// Change kinds, numbered as the Docker API numbers them.
const (
	ChangeModified ChangeKind = iota
	ChangeAdded
	ChangeDeleted
)

// Change is one path of a container that differs from its image.
type Change struct {
	Path string
	Kind ChangeKind
}

// runtimeMountpoints are the paths the runtime creates in the writable
// layer as mount targets; dockerd creates them in an init layer, so they
// are not the container's changes (while empty).
var runtimeMountpoints = []string{
	"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
}

// Changes lists what container ref changed in its root filesystem
// compared to its image (`docker diff`), in path order: added, modified
// (a directory also when something below it changed) and deleted paths.
// Errors: NotFound, Conflict (being removed).
func (e *Engine) Changes(ctx context.Context, ref string) ([]Change, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	removing, id := c.removing, c.rec.ID
	c.mu.Unlock()
	if removing {
		return nil, fmt.Errorf("container %s is marked for removal: %w", id, errdefs.ErrConflict)
	}
	mounts, err := e.snapshotMounts(ctx, id)
	if err != nil {
		return nil, err
	}
	upper, lower, closeAll, err := e.openLayers(ctx, mounts)
	if err != nil {
		return nil, fmt.Errorf("changes of container %s: %w", id, err)
	}
	defer closeAll()
	fc, err := fsview.Changes(upper, lower, fsview.ChangesOptions{Mountpoints: runtimeMountpoints})
	if err != nil {
		return nil, fmt.Errorf("changes of container %s: %w", id, err)
	}
	out := make([]Change, len(fc))
	for i, ch := range fc {
		out[i] = Change{Path: ch.Path, Kind: ChangeKind(ch.Kind)}
	}
	return out, nil
}

// openLayers opens a container snapshot's writable layer directory and
// the merged tree of its parent layers (nil when it has none).
func (e *Engine) openLayers(ctx context.Context, mounts []mount.Mount) (upper, lower *os.File, closeAll func(), err error) {
	if len(mounts) != 1 {
		return nil, nil, nil, fmt.Errorf("unexpected snapshot mounts %v: %w", mounts, errdefs.ErrNotImplemented)
	}
	m := mounts[0]
	var upperPath string
	var o overlayOptions
	switch m.Type {
	case "bind":
		upperPath = m.Source
	case "overlay":
		o = parseOverlay(m.Options)
		upperPath = o.upper
	default:
		return nil, nil, nil, fmt.Errorf("snapshot mount type %q: %w", m.Type, errdefs.ErrNotImplemented)
	}
	upper, err = os.Open(upperPath)
	if err != nil {
		return nil, nil, nil, err
	}
	closers := []func(){func() { upper.Close() }}
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	switch {
	case len(o.lower) == 1:
		lower, err = os.Open(o.lower[0])
		if err == nil {
			closers = append(closers, func() { lower.Close() })
		}
	case len(o.lower) > 1:
		var closeLower func()
		lm := mount.Mount{Type: "overlay", Source: "overlay", Options: append([]string{"lowerdir=" + strings.Join(o.lower, ":")}, o.extra...)}
		lower, closeLower, err = e.mountDetached(ctx, []mount.Mount{lm}, false)
		if err == nil {
			closers = append(closers, closeLower)
		}
	}
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return upper, lower, closeAll, nil
}

// CommitOptions control Commit.
type CommitOptions struct {
	// Pause freezes a running container while its changes are read.
	Pause bool
	// Ref names the new image (a tag reference); empty leaves it dangling.
	Ref string
	// Image is the new image's configuration and history entry.
	Image storage.CommitConfig
	// EventAttributes are added to the container's "commit" event.
	EventAttributes map[string]string
}

// Commit makes an image of container ref: its image plus one layer with
// the container's changes (computed by containerd's differ from the
// snapshot and its parent), no layer when nothing changed. A running
// container is paused meanwhile unless it already is or Pause is false.
// Errors: NotFound, Conflict (being removed), InvalidArgument (Ref).
func (e *Engine) Commit(ctx context.Context, ref string, opts CommitOptions) (storage.Image, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return storage.Image{}, err
	}
	c.mu.Lock()
	removing, rec, task := c.removing, c.rec, c.task
	c.mu.Unlock()
	if removing {
		return storage.Image{}, fmt.Errorf("container %s is marked for removal: %w", rec.ID, errdefs.ErrConflict)
	}
	if rec.State.Running && opts.Pause && task != nil {
		if st, err := task.Status(ctx); err == nil && st.Status == containerd.Running {
			if err := task.Pause(ctx); err == nil {
				defer func() { _ = task.Resume(context.WithoutCancel(ctx)) }()
			}
		}
	}
	ctx, done, err := e.opts.Client.WithLease(ctx)
	if err != nil {
		return storage.Image{}, err
	}
	defer done(context.WithoutCancel(ctx))
	layer, diffID, err := e.diffLayer(ctx, rec.ID)
	if err != nil {
		return storage.Image{}, fmt.Errorf("commit container %s: %w", rec.ID, err)
	}
	img, err := e.opts.Store.Commit(ctx, rec.ImageID, layer, diffID, opts.Image, opts.Ref)
	if err != nil {
		return storage.Image{}, err
	}
	attrs := map[string]string{"imageID": img.ID.String()}
	maps.Copy(attrs, opts.EventAttributes)
	e.emit(&rec, "commit", attrs)
	return img, nil
}

// diffLayer has containerd's differ write the changes of snapshot id
// against its parent as a gzip layer blob (held by the lease in ctx). It
// returns nil when the container changed nothing.
func (e *Engine) diffLayer(ctx context.Context, id string) (*ocispec.Descriptor, digest.Digest, error) {
	sn := e.opts.Client.SnapshotService(e.opts.Store.Snapshotter())
	info, err := sn.Stat(ctx, id)
	if err != nil {
		return nil, "", err
	}
	upper, err := sn.Mounts(ctx, id)
	if err != nil {
		return nil, "", err
	}
	var lower []mount.Mount
	if info.Parent != "" {
		key := id + "-commit-parent-" + newID()[:12]
		if lower, err = sn.View(ctx, key, info.Parent); err != nil {
			return nil, "", err
		}
		defer func() { _ = sn.Remove(context.WithoutCancel(ctx), key) }()
	}
	desc, err := e.opts.Client.DiffService().Compare(ctx, lower, upper,
		diff.WithMediaType(ocispec.MediaTypeImageLayerGzip), diff.WithReference("hyperbox-commit-"+id))
	if err != nil {
		return nil, "", err
	}
	cs := e.opts.Client.ContentStore()
	cinfo, err := cs.Info(ctx, desc.Digest)
	if err != nil {
		return nil, "", err
	}
	diffID, err := digest.Parse(cinfo.Labels[labels.LabelUncompressed])
	if err != nil {
		return nil, "", fmt.Errorf("differ gave no uncompressed digest: %w", err)
	}
	empty, err := emptyLayer(ctx, cs, desc)
	if err != nil || empty {
		return nil, "", err
	}
	return &ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: cinfo.Size}, diffID, nil
}

// emptyLayer reports a layer blob whose tar has no entries.
func emptyLayer(ctx context.Context, cs content.Provider, desc ocispec.Descriptor) (bool, error) {
	ra, err := cs.ReaderAt(ctx, desc)
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rd, err := compression.DecompressStream(content.NewReader(ra))
	if err != nil {
		return false, err
	}
	defer rd.Close()
	_, err = tar.NewReader(rd).Next()
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
