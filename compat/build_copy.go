package compat

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/hyperbox/hyperbox/engine"
)

// copyFlags are COPY/ADD's --chown and --chmod.
type copyFlags struct {
	uid, gid int
	mode     *fs.FileMode
	// from is COPY --from's stage name, index or image.
	from string
}

// parseCopyFlags reads the flags hyperboxd supports; --chown takes
// numeric IDs only for now; --from only with COPY.
func parseCopyFlags(instr string, flags []string) (copyFlags, error) {
	var f copyFlags
	for _, fl := range flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(fl, "--"), "=")
		switch k {
		case "chown":
			u, g, hasG := strings.Cut(v, ":")
			uid, err := strconv.Atoi(u)
			if err != nil {
				return f, notImplemented(strings.ToUpper(instr) + " --chown with a user name")
			}
			gid := uid
			if hasG {
				if gid, err = strconv.Atoi(g); err != nil {
					return f, notImplemented(strings.ToUpper(instr) + " --chown with a group name")
				}
			}
			f.uid, f.gid = uid, gid
		case "chmod":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return f, invalid("invalid chmod parameter: %s", v)
			}
			mode := fs.FileMode(m)
			f.mode = &mode
		case "from":
			if instr != "copy" {
				return f, invalid("ADD does not support the --from flag")
			}
			f.from = v
		default:
			return f, notImplemented(strings.ToUpper(instr) + " --" + k)
		}
	}
	return f, nil
}

// copySource is one context path a COPY copies.
type copySource struct {
	rel   string
	isDir bool
}

// copyInstr runs COPY and ADD from the build context: the files are sent
// as a tar into a container of the current image (docker cp's
// extraction), which is committed. ADD also unpacks local tar archives;
// ADD of a URL is not supported yet.
func (b *builder) copyInstr(instr string, n *parser.Node) error {
	flags, err := parseCopyFlags(instr, n.Flags)
	if err != nil {
		return err
	}
	v := values(n)
	if len(v) < 2 {
		return invalid("%s requires at least two arguments, but only one was provided. Destination could not be determined", strings.ToUpper(instr))
	}
	for i := range v {
		if v[i], err = b.expand(v[i]); err != nil {
			return err
		}
	}
	srcs, dest := v[:len(v)-1], b.workdirPath(v[len(v)-1])
	if flags.from != "" {
		if flags.from, err = b.expand(flags.from); err != nil {
			return err
		}
		return b.copyFromImage(n, flags, srcs, dest)
	}
	sources, err := b.copySources(instr, srcs)
	if err != nil {
		return err
	}
	return b.copyStep(n, sources, dest, func(id string, destIsDir bool) error {
		return b.copyInto(id, instr, sources, dest, destIsDir, flags)
	})
}

// copyStep runs one COPY/ADD step: a step container from the current
// image, dest resolved as a directory or a file as Docker does, fill
// copies the sources in, and the container is committed as the next image.
func (b *builder) copyStep(n *parser.Node, sources []copySource, dest string, fill func(id string, destIsDir bool) error) error {
	destIsDir := strings.HasSuffix(dest, "/") || len(sources) > 1 || sources[0].isDir
	id, err := b.createStepContainer([]string{"/bin/sh", "-c", "#(nop) " + n.Original}, nil)
	if err != nil {
		return err
	}
	if !destIsDir {
		if st, err := b.d.engine.StatPath(b.ctx, id, dest); err == nil && st.Mode.IsDir() {
			destIsDir = true
		}
	}
	if err := fill(id, destIsDir); err != nil {
		b.removeStepContainer(id)
		return err
	}
	return b.commitStep(id, "/bin/sh -c #(nop) "+n.Original)
}

// copySources resolves the sources (wildcards included) in the context,
// without what .dockerignore excludes.
func (b *builder) copySources(instr string, srcs []string) ([]copySource, error) {
	fsys := b.bctx.root.FS()
	var out []copySource
	for _, src := range srcs {
		if strings.Contains(src, "://") {
			return nil, notImplemented(strings.ToUpper(instr) + " from a URL")
		}
		rel := cleanContextPath(src)
		matches := []string{rel}
		if strings.ContainsAny(rel, "*?[") {
			var err error
			if matches, err = fs.Glob(fsys, rel); err != nil {
				return nil, invalid("%v", err)
			}
		}
		found := false
		for _, m := range matches {
			if m != "." && b.bctx.ignored(m) {
				continue
			}
			st, err := fs.Stat(fsys, m)
			if err != nil {
				continue
			}
			found = true
			out = append(out, copySource{rel: m, isDir: st.IsDir()})
		}
		if !found {
			return nil, invalid("%s failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist", strings.ToUpper(instr), rel)
		}
	}
	return out, nil
}

// copyInto extracts the sources into dest of container id.
func (b *builder) copyInto(id, instr string, sources []copySource, dest string, destIsDir bool, flags copyFlags) error {
	targetDir := path.Clean(dest)
	if !destIsDir {
		targetDir = path.Dir(targetDir)
	}
	if err := b.mkdirs(id, targetDir); err != nil {
		return err
	}
	var plain []copySource
	for _, s := range sources {
		if instr == "add" && !s.isDir && b.bctx.isArchive(s.rel) {
			// ADD unpacks a local archive into the destination directory.
			if err := b.extractArchive(id, s.rel, path.Clean(dest)); err != nil {
				return err
			}
			continue
		}
		plain = append(plain, s)
	}
	if len(plain) == 0 {
		return nil
	}
	f, err := os.CreateTemp(b.tmp, "copy-*.tar")
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, s := range plain {
		name := path.Base(s.rel)
		if !destIsDir {
			name = path.Base(dest)
		}
		if s.isDir {
			name = ""
		}
		if err := b.bctx.writeTar(tw, s.rel, name, flags); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return b.d.engine.ExtractToDir(b.ctx, id, targetDir, f, engine.ExtractOptions{})
}

// extractArchive unpacks the context archive rel into dir of container id.
func (b *builder) extractArchive(id, rel, dir string) error {
	if err := b.mkdirs(id, dir); err != nil {
		return err
	}
	f, err := b.bctx.root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	return b.d.engine.ExtractToDir(b.ctx, id, dir, f, engine.ExtractOptions{})
}

// isArchive reports whether context file rel is a (gzip) tar.
func (c *buildContext) isArchive(rel string) bool {
	f, err := c.root.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	plain, err := decompress(f)
	if err != nil {
		return false
	}
	_, err = tar.NewReader(plain).Next()
	return err == nil
}

// writeTar adds context path rel to tw under name (a directory's
// contents go under name, "" for the extraction directory itself),
// skipping what .dockerignore excludes. Owners are the --chown IDs (root
// by default), as COPY sets them.
func (c *buildContext) writeTar(tw *tar.Writer, rel, name string, flags copyFlags) error {
	fsys := c.root.FS()
	return fs.WalkDir(fsys, rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != rel && c.ignored(p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		sub := strings.TrimPrefix(strings.TrimPrefix(p, rel), "/")
		if rel == "." {
			sub = p
			if p == "." {
				sub = ""
			}
		}
		target := path.Join(name, sub)
		if target == "" || target == "." {
			return nil // the destination directory itself
		}
		var fi fs.FileInfo
		if p == rel {
			fi, err = fs.Stat(fsys, p) // a source symlink is followed
		} else {
			fi, err = c.root.Lstat(p)
		}
		if err != nil {
			return err
		}
		return c.writeEntry(tw, p, target, fi, flags)
	})
}

// writeEntry writes one tar entry for context path p.
func (c *buildContext) writeEntry(tw *tar.Writer, p, target string, fi fs.FileInfo, flags copyFlags) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = c.root.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = filepath.ToSlash(target)
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = flags.uid, flags.gid, "", ""
	if flags.mode != nil && h.Typeflag != tar.TypeSymlink {
		h.Mode = int64(*flags.mode)
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := c.root.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}
