package fsview

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxDBSize bounds how much of /etc/passwd or /etc/group is read.
const maxDBSize = 16 << 20

// ReadFile reads the regular file p (symlinks followed inside the root).
func (r *Root) ReadFile(p string) ([]byte, error) {
	f, err := r.open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := fstat(f)
	if err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: p, Err: errors.New("not a regular file")}
	}
	return io.ReadAll(io.LimitReader(f, maxDBSize))
}

// OpenFile returns an O_PATH handle on the regular file p (symlinks
// followed inside the root), for use as a mount target. With create, a
// missing file is created empty (mode 0644) in its existing parent
// directory.
func (r *Root) OpenFile(p string, create bool) (*os.File, error) {
	f, err := r.open(p, unix.O_PATH)
	if err != nil && create && errors.Is(err, unix.ENOENT) {
		abs, eerr := r.EvalSymlinks(p)
		if eerr != nil {
			return nil, eerr
		}
		parent, perr := r.open(dirOf(abs), unix.O_PATH|unix.O_DIRECTORY)
		if perr != nil {
			return nil, perr
		}
		fd, cerr := unix.Openat(int(parent.Fd()), baseOf(abs), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		parent.Close()
		if cerr != nil && !errors.Is(cerr, unix.EEXIST) {
			return nil, &os.PathError{Op: "create", Path: abs, Err: cerr}
		}
		if cerr == nil {
			unix.Close(fd)
		}
		f, err = r.open(abs, unix.O_PATH)
	}
	if err != nil {
		return nil, err
	}
	st, err := fstat(f)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		err = &os.PathError{Op: "open", Path: p, Err: errors.New("not a regular file")}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// LookupOwner resolves a container user spec ("user[:group]", names or
// numbers) against the root's /etc/passwd and /etc/group the way dockerd
// does for `docker cp -a`: a name must exist, a numeric user that is not
// listed keeps group 0, an empty part means 0 (root).
func (r *Root) LookupOwner(spec string) (Owner, error) {
	userPart, groupPart, _ := strings.Cut(spec, ":")
	var o Owner
	if userPart != "" {
		id, isID := parseID(userPart)
		entry, found, err := r.lookup("/etc/passwd", func(f []string) bool {
			if isID {
				return len(f) > 2 && f[2] == userPart
			}
			return f[0] == userPart
		})
		switch {
		case err != nil && !isID:
			return o, fmt.Errorf("failed to look up user %q in container: %w", userPart, err)
		case found && len(entry) > 3:
			uid, _ := parseID(entry[2])
			gid, _ := parseID(entry[3])
			o = Owner{UID: uid, GID: gid}
		case isID:
			o = Owner{UID: id}
		default:
			return o, fmt.Errorf("failed to look up user %q in container: no matching entries in passwd file", userPart)
		}
	}
	if groupPart != "" {
		if id, isID := parseID(groupPart); isID {
			o.GID = id
			return o, nil
		}
		entry, found, err := r.lookup("/etc/group", func(f []string) bool { return f[0] == groupPart })
		if err != nil || !found || len(entry) < 3 {
			if err == nil {
				err = errors.New("no matching entries in group file")
			}
			return o, fmt.Errorf("failed to look up group %q in container: %w", groupPart, err)
		}
		o.GID, _ = parseID(entry[2])
	}
	return o, nil
}

// lookup returns the first colon-separated line of db that match accepts.
func (r *Root) lookup(db string, match func([]string) bool) ([]string, bool, error) {
	data, err := r.ReadFile(db)
	if err != nil {
		return nil, false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), maxDBSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); match(f) {
			return f, true, nil
		}
	}
	return nil, false, sc.Err()
}

// parseID reads a numeric user or group ID (0 .. MaxInt32).
func parseID(s string) (int, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}
