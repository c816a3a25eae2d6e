package compat

import (
	"archive/tar"
	"bufio"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// buildContext is the uploaded build context, unpacked into a private
// directory and read through an os.Root so nothing escapes it.
type buildContext struct {
	root *os.Root
	// ignore are the .dockerignore patterns (a leading '!' re-includes).
	ignore []string
}

// openBuildContext unpacks the tar (plain or gzip) r into tmp/context.
func openBuildContext(r io.Reader, tmp string) (*buildContext, error) {
	dir := filepath.Join(tmp, "context")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c := &buildContext{root: root}
	if err := c.unpack(r); err != nil {
		root.Close()
		return nil, invalid("failed to read the build context: %v", err)
	}
	if data, err := root.ReadFile(".dockerignore"); err == nil {
		c.ignore = parseDockerignore(string(data))
	}
	return c, nil
}

// Close releases the context directory handle.
func (c *buildContext) Close() error { return c.root.Close() }

func (c *buildContext) unpack(r io.Reader) error {
	plain, err := decompress(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(plain)
	type dirTime struct {
		name string
		t    time.Time
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := cleanContextPath(h.Name)
		if name == "." {
			continue
		}
		if dir := path.Dir(name); dir != "." {
			if err := c.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := c.root.MkdirAll(name, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, h.ModTime})
		case tar.TypeReg:
			f, err := c.root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = c.root.Remove(name)
			if err := c.root.Symlink(h.Linkname, name); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			_ = c.root.Remove(name)
			if err := c.root.Link(cleanContextPath(h.Linkname), name); err != nil {
				return err
			}
			continue
		default:
			continue // devices, fifos: not copied by COPY either
		}
		if err := c.root.Chmod(name, mode); err != nil {
			return err
		}
		_ = c.root.Chtimes(name, h.ModTime, h.ModTime)
	}
	for _, d := range dirs {
		_ = c.root.Chtimes(d.name, d.t, d.t)
	}
	return nil
}

// parseDockerignore reads .dockerignore: one pattern a line, '#'
// comments, blank lines skipped, paths cleaned as dockerd cleans them.
func parseDockerignore(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimSpace(strings.TrimPrefix(line, "!"))
		line = cleanContextPath(line)
		if neg {
			line = "!" + line
		}
		out = append(out, line)
	}
	return out
}

// ignored reports whether the context path rel is excluded by
// .dockerignore: the last matching pattern wins; a pattern matches the
// path or one of its parent directories. "**" matches any number of
// directories. The Dockerfile and .dockerignore are never excluded from
// the daemon's view (dockerd sends them regardless).
func (c *buildContext) ignored(rel string) bool {
	excluded := false
	for _, p := range c.ignore {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if matchIgnore(p, rel) {
			excluded = !neg
		}
	}
	return excluded
}

// matchIgnore matches rel or any of its parents against pattern.
func matchIgnore(pattern, rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if globMatch(strings.Split(pattern, "/"), strings.Split(p, "/")) {
			return true
		}
	}
	return false
}

// globMatch matches path segments, with "**" for any number of them.
func globMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if globMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], segs[0])
	return err == nil && ok && globMatch(pat[1:], segs[1:])
}
