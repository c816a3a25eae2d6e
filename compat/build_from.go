package compat

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
)

// copyFromImage runs COPY --from=<stage|image>: each source is read from
// a container of that image with docker cp's archiving and extracted into
// a container of the current image, which is committed. Wildcards are
// not expanded in this form.
func (b *builder) copyFromImage(n *parser.Node, flags copyFlags, srcs []string, dest string) error {
	srcImage, ok := b.stages[strings.ToLower(flags.from)]
	if !ok {
		var err error
		if srcImage, err = b.baseImage(flags.from); err != nil {
			return err
		}
	}
	res, err := b.d.ContainerCreate(b.ctx, "", &container.CreateRequest{
		Config:     &container.Config{Image: srcImage, Cmd: []string{"/bin/sh", "-c", "#(nop) copy source"}, Entrypoint: []string{}},
		HostConfig: &container.HostConfig{},
	})
	if err != nil {
		return err
	}
	srcCtr := res.ID
	defer b.removeStepContainer(srcCtr)
	var sources []copySource
	for _, s := range srcs {
		st, err := b.d.engine.StatPath(b.ctx, srcCtr, path.Join("/", s))
		if err != nil {
			return invalid("COPY failed: stat %s: file does not exist", path.Join("/", s))
		}
		sources = append(sources, copySource{rel: path.Join("/", s), isDir: st.Mode.IsDir()})
	}
	return b.copyStep(n, sources, dest, func(id string, destIsDir bool) error {
		return b.copyFromContainer(srcCtr, id, sources, dest, destIsDir, flags)
	})
}

// copyFromContainer archives the sources of container src and extracts
// them into dest of container dst, renamed as COPY places them.
func (b *builder) copyFromContainer(src, dst string, sources []copySource, dest string, destIsDir bool, flags copyFlags) error {
	targetDir := path.Clean(dest)
	if !destIsDir {
		targetDir = path.Dir(targetDir)
	}
	if err := b.mkdirs(dst, targetDir); err != nil {
		return err
	}
	out, err := os.CreateTemp(b.tmp, "copy-from-*.tar")
	if err != nil {
		return err
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	for _, s := range sources {
		name := path.Base(s.rel)
		if !destIsDir {
			name = path.Base(dest)
		}
		if s.isDir {
			name = ""
		}
		if err := b.archiveRenamed(src, s.rel, name, tw, flags); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return b.d.engine.ExtractToDir(b.ctx, dst, targetDir, out, engine.ExtractOptions{})
}

// archiveRenamed copies the docker cp archive of p in container ctr into
// tw, its top entry renamed to name ("" drops it: a directory's contents
// go into the extraction directory).
func (b *builder) archiveRenamed(ctr, p, name string, tw *tar.Writer, flags copyFlags) error {
	f, err := os.CreateTemp(b.tmp, "archive-*.tar")
	if err != nil {
		return err
	}
	defer f.Close()
	err = b.d.engine.ArchivePath(b.ctx, ctr, p, func(engine.PathStat) (io.Writer, error) { return f, nil })
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		_, sub, _ := strings.Cut(strings.TrimSuffix(h.Name, "/"), "/")
		target := path.Join(name, sub)
		if target == "" || target == "." {
			continue
		}
		h.Name = target
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			_, lsub, _ := strings.Cut(h.Linkname, "/")
			h.Linkname = path.Join(name, lsub)
		}
		h.Uid, h.Gid, h.Uname, h.Gname = flags.uid, flags.gid, "", ""
		if flags.mode != nil && h.Typeflag != tar.TypeSymlink {
			h.Mode = int64(*flags.mode)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
