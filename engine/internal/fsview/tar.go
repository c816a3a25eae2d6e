package fsview

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeError marks a failure to write the archive (the client went away):
// it ends the walk, where a file that vanished or cannot be read is skipped
// as dockerd does for a live filesystem.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

type devIno struct{ dev, ino uint64 }

// tarWriter writes entries read through directory handles.
type tarWriter struct {
	tw *tar.Writer
	// seen maps hard-linked inodes to the first name they were archived
	// under.
	seen map[devIno]string
	// skip is called for entries that could not be archived.
	skip func(name string, err error)
}

func newTarWriter(w io.Writer, skip func(string, error)) *tarWriter {
	if skip == nil {
		skip = func(string, error) {}
	}
	return &tarWriter{tw: tar.NewWriter(w), seen: map[devIno]string{}, skip: skip}
}

func (t *tarWriter) close() error {
	if err := t.tw.Close(); err != nil {
		return writeError{err}
	}
	return nil
}

// Archive writes to w a tar of p (whose Stat is st) the way dockerd answers
// GET /containers/{id}/archive: a directory as itself and its tree, the
// top entry renamed to rebase ("/" renames it to "", giving "/" and "/x"
// entries, as dockerd does), anything else (a symlink too: it is not
// followed) as one entry named rebase. skip is told about files that
// vanished or could not be read (they are left out). The error is non-nil
// only if the archive could not be written or p could not be opened.
func (r *Root) Archive(w io.Writer, p string, st Stat, rebase string, skip func(string, error)) error {
	t := newTarWriter(w, skip)
	if rebase == "/" {
		rebase = ""
	}
	if st.Mode.IsDir() {
		d, err := r.open(p, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		err = t.dir(d, rebase)
		d.Close()
		if err != nil {
			return err
		}
		return t.close()
	}
	parent, err := r.open(dirOf(p), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	err = t.entry(parent, baseOf(p), rebase)
	parent.Close()
	if err != nil {
		return err
	}
	return t.close()
}

// ArchiveAll writes the whole tree under the root to w, entries named
// relative to it ("bin/", "bin/sh"), without an entry for the root itself:
// what `docker export` produces.
func (r *Root) ArchiveAll(w io.Writer, skip func(string, error)) error {
	t := newTarWriter(w, skip)
	d, err := r.open("/", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := readNames(d)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := t.entry(d, n, n); err != nil {
			return err
		}
	}
	return t.close()
}

// entry archives name in directory dir as archName (recursing into
// directories).
func (t *tarWriter) entry(dir *os.File, name, archName string) error {
	st, err := lstatAt(dir, name)
	if err != nil {
		t.skip(archName, err)
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		d, err := openAt(dir, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			t.skip(archName, err)
			return nil
		}
		defer d.Close()
		return t.dir(d, archName)
	case unix.S_IFREG:
		return t.file(dir, name, archName, st)
	case unix.S_IFSOCK:
		return nil // tar cannot hold sockets; dockerd leaves them out too
	case unix.S_IFLNK:
		target, err := readlinkAt(dir, name)
		if err != nil {
			t.skip(archName, err)
			return nil
		}
		hdr := header(st, archName)
		hdr.Linkname = target
		return t.write(hdr)
	default: // devices and FIFOs: metadata only, never opened
		return t.write(header(st, archName))
	}
}

// dir archives the open directory d as archName, then its entries by
// name as archName/<name>.
func (t *tarWriter) dir(d *os.File, archName string) error {
	st, err := fstat(d)
	if err != nil {
		t.skip(archName, err)
		return nil
	}
	if err := t.write(header(st, archName)); err != nil {
		return err
	}
	if isPseudoFS(d) {
		return nil // /proc, /sys ... of a live container: the mount point only
	}
	names, err := readNames(d)
	if err != nil {
		t.skip(archName, err)
		return nil
	}
	for _, n := range names {
		if err := t.entry(d, n, archName+"/"+n); err != nil {
			return err
		}
	}
	return nil
}

// file archives a regular file: a hard link to an inode archived before,
// or its content read through a handle opened without following symlinks
// (O_NONBLOCK so that a FIFO swapped in cannot block the walk).
func (t *tarWriter) file(dir *os.File, name, archName string, st unix.Stat_t) error {
	hdr := header(st, archName)
	if st.Nlink > 1 {
		key := devIno{uint64(st.Dev), st.Ino}
		if first, ok := t.seen[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return t.write(hdr)
		}
		t.seen[key] = hdr.Name
	}
	f, err := openAt(dir, name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		t.skip(archName, err)
		return nil
	}
	defer f.Close()
	fst, err := fstat(f)
	if err != nil || fst.Mode&unix.S_IFMT != unix.S_IFREG || fst.Ino != st.Ino {
		t.skip(archName, errors.New("file changed while being archived"))
		return nil
	}
	hdr = header(fst, archName)
	if capability := getCapability(f); capability != nil {
		hdr.PAXRecords = map[string]string{paxSchilyXattr + "security.capability": string(capability)}
	}
	if err := t.write(hdr); err != nil {
		return err
	}
	// Copy exactly the size announced; a file that shrank meanwhile (or
	// could not be read) is padded with zeros so the archive stays
	// well-formed.
	src := &readErrReader{r: io.LimitReader(f, hdr.Size)}
	n, err := io.Copy(t.tw, src)
	if err != nil {
		return writeError{err}
	}
	if src.err != nil {
		t.skip(archName, src.err)
	}
	if n < hdr.Size {
		if _, err := io.CopyN(t.tw, zeros{}, hdr.Size-n); err != nil {
			return writeError{err}
		}
	}
	return nil
}

// readErrReader ends at a read error, keeping it, so that io.Copy only
// fails for errors of the writer.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
		err = io.EOF
	}
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func (t *tarWriter) write(hdr *tar.Header) error {
	if err := t.tw.WriteHeader(hdr); err != nil {
		return writeError{err}
	}
	return nil
}

// header is the tar header dockerd (moby/go-archive) writes for a file:
// PAX format, mtime truncated to the second, no atime/ctime, numeric
// owner only, directories named with a trailing "/".
func header(st unix.Stat_t, name string) *tar.Header {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
	case unix.S_IFBLK, unix.S_IFCHR:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	}
	return hdr
}

const paxSchilyXattr = "SCHILY.xattr."

// getCapability reads security.capability of an open file, converted to
// revision 2 as dockerd does (a v3 root UID means nothing elsewhere).
func getCapability(f *os.File) []byte {
	buf := make([]byte, 64)
	n, err := unix.Fgetxattr(int(f.Fd()), "security.capability", buf)
	if err != nil || n < 4 {
		return nil
	}
	c := buf[:n]
	const xattrCapsSz2, versionOffset, rev2, rev3 = 20, 3, 2, 3
	if c[versionOffset] == rev3 && len(c) >= xattrCapsSz2 {
		c[versionOffset] = rev2
		c = c[:xattrCapsSz2]
	}
	return c
}

// pseudoFS are the kernel filesystems a running container has mounted
// that are not its files; dockerd's own view of a container never has them
// mounted.
var pseudoFS = map[int64]bool{
	unix.PROC_SUPER_MAGIC: true, unix.SYSFS_MAGIC: true, unix.CGROUP_SUPER_MAGIC: true,
	unix.CGROUP2_SUPER_MAGIC: true, unix.DEVPTS_SUPER_MAGIC: true, mqueueMagic: true,
	unix.SECURITYFS_MAGIC: true, unix.DEBUGFS_MAGIC: true, unix.TRACEFS_MAGIC: true,
	unix.BPF_FS_MAGIC: true, unix.PSTOREFS_MAGIC: true, unix.SELINUX_MAGIC: true, unix.NSFS_MAGIC: true,
}

// mqueueMagic is linux/magic.h's MQUEUE_MAGIC (not in x/sys/unix).
const mqueueMagic = 0x19800202

func isPseudoFS(d *os.File) bool {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &fs); err != nil {
		return false
	}
	return pseudoFS[int64(fs.Type)]
}

// readNames lists a directory opened for reading, sorted.
func readNames(d *os.File) ([]string, error) {
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// dirOf and baseOf split a path the way filepath.Split does for the
// archive's source: "/a/b" gives "/a" and "b", "b" gives "/" and "b".
func dirOf(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseOf(p string) string { return p[strings.LastIndex(p, "/")+1:] }
