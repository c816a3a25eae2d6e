package fsview

import (
	"errors"
	"io"
	"os"
	"path"
	"sort"

	"golang.org/x/sys/unix"
)

// ChangeKind says how a path differs from the layers below.
type ChangeKind int

// Change kinds, numbered as the Docker API numbers them.
const (
	Modified ChangeKind = iota
	Added
	Deleted
)

// Change is one changed path.
type Change struct {
	Path string
	Kind ChangeKind
}

// ChangesOptions tune Changes.
type ChangesOptions struct {
	// Mountpoints are files and directories the runtime creates empty in
	// the writable layer to mount over (/etc/hosts, /proc, ...). dockerd
	// keeps them in an init layer below the container's, so they never
	// show as added; here they are left out while empty.
	Mountpoints []string
}

// Changes compares an overlayfs upper directory with the (merged) lower
// tree it sits on, as `docker diff` reports it: a path in upper and not in
// lower is Added (and everything under it), one in both is Modified when
// its mode, owner, device, or for non-directories size or mtime differ, an
// overlay whiteout of a lower path is Deleted, and the children of an
// opaque directory that only lower has are Deleted. A directory with
// changes below it is Modified too, listed before them. Entries come in
// path order. lower may be nil (no parent layers: everything is added).
// Both trees are read through handles, never following symlinks.
func Changes(upper, lower *os.File, opts ChangesOptions) ([]Change, error) {
	c := &differ{skip: map[string]bool{}}
	if lower != nil {
		c.lower = New(lower)
	}
	for _, m := range opts.Mountpoints {
		c.skip[path.Clean("/"+m)] = true
	}
	up, err := openAt(upper, ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer up.Close()
	return c.dir(up, "/", false, true)
}

type differ struct {
	lower *Root
	skip  map[string]bool
}

// lowerStat looks p up in the lower tree the way overlayfs merges it:
// through directories only (a symlink on the way means p is not there).
func (c *differ) lowerStat(p string) (unix.Stat_t, bool, error) {
	if c.lower == nil {
		return unix.Stat_t{}, false, nil
	}
	f, err := c.lower.openNoSymlinks(p, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return unix.Stat_t{}, false, nil
		}
		return unix.Stat_t{}, false, err
	}
	defer f.Close()
	st, err := fstat(f)
	return st, err == nil, err
}

// lowerNames lists the lower directory p.
func (c *differ) lowerNames(p string) ([]string, error) {
	f, err := c.lower.openNoSymlinks(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readNames(f)
}

// dir returns the changes under the upper directory up (path p). opaque
// says up hides the lower directory's entries; lowerDir that lower has a
// directory at p.
func (c *differ) dir(up *os.File, p string, opaque, lowerDir bool) ([]Change, error) {
	names, err := readNames(up)
	if err != nil {
		return nil, err
	}
	inUpper := map[string]bool{}
	for _, n := range names {
		inUpper[n] = true
	}
	var hidden []string // lower entries an opaque directory deletes
	if opaque && lowerDir {
		lnames, err := c.lowerNames(p)
		if err != nil {
			return nil, err
		}
		for _, n := range lnames {
			if !inUpper[n] {
				hidden = append(hidden, n)
			}
		}
	}
	all := append(names, hidden...)
	sort.Strings(all)
	var out []Change
	for _, n := range all {
		cp := path.Join(p, n)
		if !inUpper[n] {
			out = append(out, Change{Path: cp, Kind: Deleted})
			continue
		}
		ch, err := c.entry(up, n, cp)
		if err != nil {
			return nil, err
		}
		out = append(out, ch...)
	}
	return out, nil
}

// entry returns the changes of upper entry name (path cp) and below it.
func (c *differ) entry(up *os.File, name, cp string) ([]Change, error) {
	st, err := lstatAt(up, name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil // removed while we walked
		}
		return nil, err
	}
	lst, inLower, err := c.lowerStat(cp)
	if err != nil {
		return nil, err
	}
	if isWhiteout(st) {
		if inLower {
			return []Change{{Path: cp, Kind: Deleted}}, nil
		}
		return nil, nil
	}
	var self []Change
	switch {
	case !inLower:
		if c.skip[cp] && c.emptyMountpoint(up, name, st) {
			return nil, nil
		}
		self = []Change{{Path: cp, Kind: Added}}
	case statDifferent(lst, st):
		self = []Change{{Path: cp, Kind: Modified}}
	}
	if !isDir(st) {
		return self, nil
	}
	d, err := openAt(up, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return self, nil
		}
		return nil, err
	}
	defer d.Close()
	below, err := c.dir(d, cp, isOpaque(d), inLower && isDir(lst))
	if err != nil {
		return nil, err
	}
	if len(below) > 0 && self == nil {
		// A directory with changes inside is listed as modified.
		self = []Change{{Path: cp, Kind: Modified}}
	}
	return append(self, below...), nil
}

// emptyMountpoint reports an empty file or directory, as the runtime
// leaves behind when it creates a mount target.
func (c *differ) emptyMountpoint(up *os.File, name string, st unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return st.Size == 0
	case unix.S_IFDIR:
		d, err := openAt(up, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return false
		}
		defer d.Close()
		names, err := d.Readdirnames(1)
		return err == io.EOF && len(names) == 0
	}
	return false
}

// statDifferent is dockerd's test for a modified path: mode, owner or
// device differ, or for a non-directory size or mtime.
func statDifferent(a, b unix.Stat_t) bool {
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Rdev != b.Rdev {
		return true
	}
	if isDir(a) {
		return false
	}
	return a.Size != b.Size || !sameFsTime(a.Mtim, b.Mtim)
}

// sameFsTime treats a time truncated to the second (by a tar round trip)
// as equal to the precise one, as dockerd does.
func sameFsTime(a, b unix.Timespec) bool {
	return a == b || (a.Sec == b.Sec && (a.Nsec == 0 || b.Nsec == 0))
}

// isWhiteout reports an overlayfs whiteout: a 0/0 character device.
func isWhiteout(st unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// isOpaque reports an overlayfs opaque directory (trusted.* as root mounts
// write it, user.* for userxattr mounts).
func isOpaque(d *os.File) bool {
	buf := make([]byte, 4)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Fgetxattr(int(d.Fd()), attr, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}
