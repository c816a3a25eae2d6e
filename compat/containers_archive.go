package compat

import (
	"context"
	"errors"
	"io"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
)

// archiveError words an engine error about path p of container ref as
// dockerd does: a missing path is a 404 "Could not find the file <path> in
// container <name>" (both as the client gave them), a missing container
// "No such container: <name>".
func archiveError(ref, p string, err error) error {
	var pnf *engine.PathNotFoundError
	if errors.As(err, &pnf) {
		return errdefs.ErrNotFound.WithMessage("Could not find the file " + p + " in container " + ref)
	}
	return containerError(ref, err)
}

func pathStat(s engine.PathStat) *container.PathStat {
	return &container.PathStat{Name: s.Name, Size: s.Size, Mode: s.Mode, Mtime: s.Mtime, LinkTarget: s.LinkTarget}
}

// ContainerStatPath answers HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, p string) (*container.PathStat, error) {
	st, err := d.engine.StatPath(ctx, ref, p)
	if err != nil {
		return nil, archiveError(ref, p, err)
	}
	return pathStat(st), nil
}

// ContainerArchivePath answers GET /containers/{id}/archive.
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, p string, start func(*container.PathStat) (io.Writer, error)) error {
	err := d.engine.ArchivePath(ctx, ref, p, func(st engine.PathStat) (io.Writer, error) {
		return start(pathStat(st))
	})
	return archiveError(ref, p, err)
}

// ContainerExtractToDir answers PUT /containers/{id}/archive.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, ref, p string, opts containers.ExtractOptions, content io.Reader) error {
	err := d.engine.ExtractToDir(ctx, ref, p, content, engine.ExtractOptions{
		NoOverwriteDirNonDir: opts.NoOverwriteDirNonDir,
		CopyUIDGID:           opts.CopyUIDGID,
	})
	return archiveError(ref, p, err)
}

// ContainerExport answers GET /containers/{id}/export.
func (d *Daemon) ContainerExport(ctx context.Context, ref string, start func() (io.Writer, error)) error {
	err := d.engine.Export(ctx, ref, start)
	if errdefs.IsConflict(err) {
		c, gerr := d.engine.Get(ctx, ref)
		if gerr == nil {
			return errdefs.ErrConflict.WithMessage("You cannot export container " + c.ID + " which is being removed")
		}
	}
	return containerError(ref, err)
}

// ContainerChanges answers GET /containers/{id}/changes: always a list
// (dockerd sends null when nothing changed; strict clients prefer []).
func (d *Daemon) ContainerChanges(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	changes, err := d.engine.Changes(ctx, ref)
	if err != nil {
		return nil, containerError(ref, err)
	}
	out := make([]container.FilesystemChange, 0, len(changes))
	for _, c := range changes {
		out = append(out, container.FilesystemChange{Path: c.Path, Kind: changeKind(c.Kind)})
	}
	return out, nil
}

func changeKind(k engine.ChangeKind) container.ChangeType {
	switch k {
	case engine.ChangeAdded:
		return container.ChangeAdd
	case engine.ChangeDeleted:
		return container.ChangeDelete
	}
	return container.ChangeModify
}
