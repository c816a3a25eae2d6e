package fsview

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotDirectory is returned by Extract when the destination is not a
// directory.
var ErrNotDirectory = errors.New("extraction point is not a directory")

// ErrBreakout is wrapped by errors about archive entries (or hard link
// targets) that name a place outside the destination.
var ErrBreakout = errors.New("archive entry outside the destination")

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// ExtractOptions control Extract.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse (dockerd's noOverwriteDirNonDir).
	NoOverwriteDirNonDir bool
	// Chown, when set, owns every extracted entry instead of the IDs in
	// the archive (docker cp -a into a container with a User).
	Chown *Owner
	// Warn is told about xattrs the filesystem refused.
	Warn func(name string, err error)
}

// ResolveDir expands every symlink of dest inside the root, the last one
// too (so an archive can be extracted through a link to a directory), and
// checks that the result is a directory. It returns the resolved path; a
// missing path is an error matching os.ErrNotExist, a non-directory
// ErrNotDirectory.
func (r *Root) ResolveDir(dest string) (string, error) {
	abs, err := r.EvalSymlinks(path.Join("/", dest))
	if err != nil {
		return "", err
	}
	f, err := r.open(abs, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return "", err
	}
	st, err := fstat(f)
	f.Close()
	if err != nil {
		return "", err
	}
	if !isDir(st) {
		return "", ErrNotDirectory
	}
	return abs, nil
}

// Extract unpacks the (uncompressed) tar stream rd into dest, a directory
// path inside the root as returned by ResolveDir, as dockerd's archive
// extraction does: entries are named relative to dest ("/" prefixes
// dropped, ".." refused), missing parent directories are created 0755,
// an existing entry is replaced unless both are directories (then merged),
// owner, mode, xattrs and times are applied, directory times last. Every
// parent is resolved inside the root, and the entry itself is created
// relative to it, never through a symlink.
func (r *Root) Extract(rd io.Reader, dest string, opts ExtractOptions) error {
	x := &extractor{root: r, dest: dest, opts: opts}
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.finishDirs()
}

type extractor struct {
	root *Root
	dest string
	opts ExtractOptions
	// dirs are the extracted directories whose times are set at the end
	// (creating entries inside them changes their mtime).
	dirs []dirTimes
}

type dirTimes struct {
	path         string
	atime, mtime time.Time
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
	if name == "." {
		return nil
	}
	if !filepath.IsLocal(name) {
		return fmt.Errorf("invalid entry name %q: %w", hdr.Name, ErrBreakout)
	}
	parent, err := x.parent(path.Dir(name))
	if err != nil {
		return err
	}
	defer parent.Close()
	if isPseudoFS(parent) {
		// A live container's /proc, /sys ...: not files to extract into.
		return fmt.Errorf("cannot extract %q into a kernel filesystem", hdr.Name)
	}
	base := path.Base(name)
	if st, err := lstatAt(parent, base); err == nil {
		dir := isDir(st)
		if x.opts.NoOverwriteDirNonDir && dir && hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", name, x.dest)
		}
		if x.opts.NoOverwriteDirNonDir && !dir && hdr.Typeflag == tar.TypeDir {
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", name, x.dest)
		}
		if !dir || hdr.Typeflag != tar.TypeDir {
			if err := removeAll(parent, base); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return err
	}
	linkTarget, err := x.create(parent, base, hdr, body)
	if err != nil {
		return err
	}
	return x.metadata(parent, base, name, hdr, linkTarget)
}

// parent opens the directory rel (relative to dest) as an O_PATH handle,
// creating missing directories on the way with mode 0755.
func (x *extractor) parent(rel string) (*os.File, error) {
	full := path.Join(x.dest, rel)
	f, err := x.root.open(full, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) || rel == "." {
		return f, err
	}
	cur, err := x.root.open(x.dest, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	sofar := x.dest
	for _, c := range strings.Split(rel, "/") {
		sofar = path.Join(sofar, c)
		next, err := x.root.open(sofar, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(int(cur.Fd()), c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				cur.Close()
				return nil, &os.PathError{Op: "mkdir", Path: sofar, Err: err}
			}
			next, err = openAt(cur, c, unix.O_PATH|unix.O_DIRECTORY)
			if err == nil {
				// mkdir applied the umask; implied directories are 0755.
				_ = unix.Fchmodat(unix.AT_FDCWD, procPath(next), 0o755, 0)
			}
		}
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

// create makes the entry base in parent. It returns the root-relative
// path of a hard link's target.
func (x *extractor) create(parent *os.File, base string, hdr *tar.Header, body io.Reader) (string, error) {
	pfd := int(parent.Fd())
	perm := uint32(hdr.Mode & 0o777)
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = unix.Mkdirat(pfd, base, perm)
		if errors.Is(err, unix.EEXIST) {
			if st, serr := lstatAt(parent, base); serr == nil && isDir(st) {
				err = nil // merging into an existing directory
			}
		}
	case tar.TypeReg:
		var fd int
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err == nil {
			f := os.NewFile(uintptr(fd), base)
			_, err = io.Copy(f, body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", fmt.Errorf("write %s: %w", hdr.Name, err)
			}
		}
	case tar.TypeSymlink:
		// The target is data: stored as written, followed only ever
		// inside the root.
		err = unix.Symlinkat(hdr.Linkname, pfd, base)
	case tar.TypeLink:
		return x.link(parent, base, hdr)
	case tar.TypeBlock, tar.TypeChar, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		default:
			mode |= unix.S_IFIFO
		}
		err = unix.Mknodat(pfd, base, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	default:
		return "", fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
	}
	if err != nil {
		return "", &os.PathError{Op: "create", Path: hdr.Name, Err: err}
	}
	return "", nil
}

// link creates a hard link to another entry of the archive, named
// relative to dest (an absolute name means relative to dest too).
func (x *extractor) link(parent *os.File, base string, hdr *tar.Header) (string, error) {
	cleaned := path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
	if cleaned == "." || !filepath.IsLocal(cleaned) {
		return "", fmt.Errorf("invalid hardlink target %q: %w", hdr.Linkname, ErrBreakout)
	}
	target := path.Join(x.dest, cleaned)
	tdir, err := x.root.open(dirOf(target), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	defer tdir.Close()
	if err := unix.Linkat(int(tdir.Fd()), baseOf(target), int(parent.Fd()), base, 0); err != nil {
		return "", &os.PathError{Op: "link", Path: hdr.Name, Err: err}
	}
	return target, nil
}

// metadata applies owner, xattrs, mode and times to the new entry.
func (x *extractor) metadata(parent *os.File, base, name string, hdr *tar.Header, linkTarget string) error {
	owner := Owner{UID: hdr.Uid, GID: hdr.Gid}
	if x.opts.Chown != nil {
		owner = *x.opts.Chown
	}
	if err := unix.Fchownat(int(parent.Fd()), base, owner.UID, owner.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("failed to Lchown %q for UID %d, GID %d: %w", name, owner.UID, owner.GID, err)
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return unix.UtimesNanoAt(int(parent.Fd()), base, times(hdr), unix.AT_SYMLINK_NOFOLLOW)
	}
	f, err := openAt(parent, base, unix.O_PATH)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := fstat(f)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil // a hard link to a symlink: nothing to chmod or time
	}
	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, paxSchilyXattr)
		if !ok {
			continue
		}
		if err := unix.Setxattr(procPath(f), attr, []byte(value), 0); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) {
				if x.opts.Warn != nil {
					x.opts.Warn(name, err)
				}
				continue
			}
			return &os.PathError{Op: "setxattr", Path: name, Err: err}
		}
	}
	// After chown, which may clear setuid bits.
	if err := unix.Fchmodat(unix.AT_FDCWD, procPath(f), uint32(hdr.Mode&0o7777), 0); err != nil {
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTimes{path: path.Join(x.dest, name), atime: atime(hdr), mtime: boundTime(hdr.ModTime)})
		return nil
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f), times(hdr), 0)
}

// finishDirs sets the times of the extracted directories.
func (x *extractor) finishDirs() error {
	for _, d := range x.dirs {
		f, err := x.root.open(d.path, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.atime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
		err = unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f), ts, 0)
		f.Close()
		if err != nil {
			return &os.PathError{Op: "utimes", Path: d.path, Err: err}
		}
	}
	return nil
}

func times(hdr *tar.Header) []unix.Timespec {
	return []unix.Timespec{unix.NsecToTimespec(atime(hdr).UnixNano()), unix.NsecToTimespec(boundTime(hdr.ModTime).UnixNano())}
}

// atime is the later of the header's access and modification times.
func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.After(hdr.ModTime) {
		return boundTime(hdr.AccessTime)
	}
	return boundTime(hdr.ModTime)
}

// boundTime maps times utimensat cannot take to the epoch, as dockerd
// does.
func boundTime(t time.Time) time.Time {
	if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, 1<<63-1)) {
		return time.Unix(0, 0)
	}
	return t
}

// removeAll deletes name in dir and, for a directory, everything under it,
// without following symlinks.
func removeAll(dir *os.File, name string) error {
	st, err := lstatAt(dir, name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if isDir(st) {
		d, err := openAt(dir, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		names, err := readNames(d)
		for _, n := range names {
			if err == nil {
				err = removeAll(d, n)
			}
		}
		d.Close()
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(int(dir.Fd()), name, unix.AT_REMOVEDIR); err != nil {
			return &os.PathError{Op: "remove", Path: name, Err: err}
		}
		return nil
	}
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}
