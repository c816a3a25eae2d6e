// Package fsview reads and writes a directory tree the way a container sees
// it. Every path is resolved inside a root directory handle with openat2
// RESOLVE_IN_ROOT, so absolute symlinks, relative symlinks and ".." can never
// lead outside it, and every object is then reached relative to an open
// parent directory without following a last-component symlink. Nothing here
// builds a host path from a container path.
//
// The root may be anything that can be opened as a directory: a detached
// overlay mount, a directory on disk, or /proc/<pid>/root of a running
// container (its view, including its own mounts).
package fsview

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxLinks bounds symlink expansion in EvalSymlinks, as the kernel's
// MAXSYMLINKS-like limit does for a path walk.
const maxLinks = 255

// Root is a directory handle that paths are resolved under, as if it were
// "/". It does not own the handle.
type Root struct {
	f *os.File
}

// New returns a Root for the open directory f (which may be an O_PATH
// handle). The caller keeps f open while the Root is in use.
func New(f *os.File) *Root { return &Root{f: f} }

func (r *Root) fd() int { return int(r.f.Fd()) }

// open resolves p (absolute or relative, both meaning "from the root")
// inside the root with openat2 and opens it with flags. Intermediate
// symlinks are followed inside the root; the last one only unless flags has
// O_NOFOLLOW (and then an O_PATH open returns the link itself).
func (r *Root) open(p string, flags int) (*os.File, error) {
	return openIn(r.fd(), p, flags, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
}

// openNoSymlinks opens p under the root failing on any symlink on the way
// (ELOOP), except a last component opened O_PATH|O_NOFOLLOW.
func (r *Root) openNoSymlinks(p string, flags int) (*os.File, error) {
	return openIn(r.fd(), p, flags, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_SYMLINKS)
}

// OpenInRoot opens p inside the directory dirfd as if it were "/"
// (openat2 RESOLVE_IN_ROOT, no magic links), retrying the EAGAIN a
// concurrent rename or mount anywhere on the host can cause.
func OpenInRoot(dirfd int, p string, flags int) (*os.File, error) {
	return openIn(dirfd, p, flags, unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
}

func openIn(dirfd int, p string, flags int, resolve uint64) (*os.File, error) {
	if p == "" {
		return nil, &os.PathError{Op: "openat2", Path: p, Err: unix.ENOENT}
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, p, &how)
		// EAGAIN: a concurrent rename or mount raced the RESOLVE_IN_ROOT walk.
		if (errors.Is(err, unix.EAGAIN) && i < 128) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}

// openAt opens name, a single component, in directory dir without
// following a symlink there.
func openAt(dir *os.File, name string, flags int) (*os.File, error) {
	for {
		fd, err := unix.Openat(int(dir.Fd()), name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

func lstatAt(dir *os.File, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return st, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	return st, nil
}

func fstat(f *os.File) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return st, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return st, nil
}

func readlinkAt(dir *os.File, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// procPath names an open file through /proc/self/fd, for the few calls
// that have no fd-based form (chmod, setxattr, utimensat on a directory).
// It reaches exactly the inode f holds, never a path.
func procPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// Stat describes one file as `docker cp` sees it.
type Stat struct {
	Name       string
	Size       int64
	Mode       os.FileMode
	Mtime      time.Time
	LinkTarget string
}

// Stat describes p without following a last-component symlink (a trailing
// "/" does follow it, as lstat(2) does). Name is the base name of p as
// given. For a symlink, LinkTarget is where it leads, fully resolved inside
// the root (as far as it exists). Missing paths give an error matching
// os.ErrNotExist.
func (r *Root) Stat(p string) (Stat, error) {
	f, err := r.open(p, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return Stat{}, err
	}
	st, err := fstat(f)
	f.Close()
	if err != nil {
		return Stat{}, err
	}
	s := Stat{
		Name:  path.Base(p),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if s.Mode&os.ModeSymlink != 0 {
		if s.LinkTarget, err = r.EvalSymlinks(p); err != nil {
			return Stat{}, err
		}
	}
	return s, nil
}

// EvalSymlinks returns p with every symlink expanded inside the root, as
// an absolute path in it: absolute link targets restart at the root, ".."
// never climbs above it. Components that do not exist are kept as written
// (so a dangling link resolves as far as possible).
func (r *Root) EvalSymlinks(p string) (string, error) {
	var resolved []string // components of the resolved path so far
	rest := strings.Split(p, "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		next := "/" + strings.Join(append(resolved, c), "/")
		f, err := r.openNoSymlinks(next, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				resolved = append(resolved, c)
				continue
			}
			return "", err
		}
		st, err := fstat(f)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			f.Close()
			if err != nil {
				return "", err
			}
			resolved = append(resolved, c)
			continue
		}
		target, err := readlinkAt(f, "")
		f.Close()
		if err != nil {
			return "", err
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("evaluating %s: too many links", p)
		}
		if strings.HasPrefix(target, "/") {
			resolved = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return "/" + strings.Join(resolved, "/"), nil
}

// fileMode converts a stat mode to Go's os.FileMode bits, the encoding the
// Docker API uses (a directory is 1<<31, not S_IFDIR).
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= os.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= os.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func isDir(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
