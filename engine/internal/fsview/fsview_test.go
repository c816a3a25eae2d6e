package fsview

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// tree builds a small container root under a fresh directory, next to a
// host-side "outside" file the root must never reach, and returns the root
// path and a Root on it.
func tree(t *testing.T) (string, *Root) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	for _, d := range []string{"etc", "bin", "tmp", "a/b"} {
		assert.NilError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	assert.NilError(t, os.WriteFile(filepath.Join(base, "outside"), []byte("host secret\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "etc/hostname"), []byte("container\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o600))
	assert.NilError(t, os.Link(filepath.Join(dir, "etc/passwd"), filepath.Join(dir, "etc/passwd-")))
	for link, target := range map[string]string{
		"escape":   "/",
		"etcl":     "/etc",
		"up":       "../../../../",
		"a/b/rel":  "../../etc",
		"dangling": "/nonexistent/file",
		"loop":     "loop",
	} {
		assert.NilError(t, os.Symlink(target, filepath.Join(dir, link)))
	}
	f, err := os.Open(dir)
	assert.NilError(t, err)
	t.Cleanup(func() { f.Close() })
	return dir, New(f)
}

func TestStat(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	_, r := tree(t)
	tests := []struct {
		name       string
		path       string
		wantName   string
		wantDir    bool
		wantLink   string
		wantSize   int64
		wantAbsent bool
	}{
		{name: "file", path: "/etc/hostname", wantName: "hostname", wantSize: 10},
		{name: "relative path", path: "etc/hostname", wantName: "hostname", wantSize: 10},
		{name: "directory", path: "/etc", wantName: "etc", wantDir: true},
		{name: "through absolute link", path: "/escape/etc/hostname", wantName: "hostname", wantSize: 10},
		{name: "link to root", path: "/escape", wantName: "escape", wantLink: "/"},
		{name: "link to etc", path: "/etcl", wantName: "etcl", wantLink: "/etc"},
		{name: "trailing slash follows", path: "/etcl/", wantName: "etcl", wantDir: true},
		{name: "relative link above root", path: "/up", wantName: "up", wantLink: "/"},
		{name: "relative link in subdir", path: "/a/b/rel", wantName: "rel", wantLink: "/etc"},
		{name: "dangling link", path: "/dangling", wantName: "dangling", wantLink: "/nonexistent/file"},
		{name: "dotdot stays inside", path: "/../../../etc/hostname", wantName: "hostname", wantSize: 10},
		{name: "host file unreachable through up", path: "/up/outside", wantAbsent: true},
		{name: "host file unreachable through dotdot", path: "/../outside", wantAbsent: true},
		{name: "missing", path: "/nope", wantAbsent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := r.Stat(tc.path)
			if tc.wantAbsent {
				assert.Check(t, errors.Is(err, os.ErrNotExist), "err %v", err)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(st.Name, tc.wantName))
			assert.Check(t, is.Equal(st.Mode.IsDir(), tc.wantDir))
			assert.Check(t, is.Equal(st.LinkTarget, tc.wantLink))
			if tc.wantSize > 0 {
				assert.Check(t, is.Equal(st.Size, tc.wantSize))
			}
			if tc.wantLink != "" {
				assert.Check(t, st.Mode&os.ModeSymlink != 0)
			}
		})
	}
	_, err := r.Stat("/loop/x")
	assert.Check(t, errors.Is(err, unix.ELOOP), "err %v", err)
}

// entries reads a tar into name -> header (and content for files).
func entries(t *testing.T, data []byte) ([]string, map[string]*tar.Header, map[string]string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		b, err := io.ReadAll(tr)
		assert.NilError(t, err)
		names = append(names, h.Name)
		hdrs[h.Name], bodies[h.Name] = h, string(b)
	}
	return names, hdrs, bodies
}

func TestArchive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, r := tree(t)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	assert.NilError(t, os.Chtimes(filepath.Join(dir, "etc/hostname"), mtime, mtime))
	assert.NilError(t, os.Lchown(filepath.Join(dir, "etc/hostname"), 1234, 5678))
	tests := []struct {
		name, path, rebase string
		want               []string
	}{
		{name: "directory", path: "/etc", rebase: "etc",
			want: []string{"etc/", "etc/hostname", "etc/passwd", "etc/passwd-"}},
		{name: "directory contents", path: "/etc/.", rebase: ".",
			want: []string{"./", "./hostname", "./passwd", "./passwd-"}},
		{name: "file through escaping link", path: "/escape/etc/hostname", rebase: "hostname",
			want: []string{"hostname"}},
		{name: "link itself", path: "/etcl", rebase: "etcl", want: []string{"etcl"}},
		{name: "directory through link", path: "/etcl/", rebase: "etcl",
			want: []string{"etcl/", "etcl/hostname", "etcl/passwd", "etcl/passwd-"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := r.Stat(tc.path)
			assert.NilError(t, err)
			var buf bytes.Buffer
			assert.NilError(t, r.Archive(&buf, tc.path, st, tc.rebase, nil))
			names, hdrs, bodies := entries(t, buf.Bytes())
			assert.Check(t, is.DeepEqual(names, tc.want))
			for n, h := range hdrs {
				if strings.HasSuffix(n, "hostname") {
					assert.Check(t, is.Equal(bodies[n], "container\n"))
					assert.Check(t, is.Equal(h.Uid, 1234))
					assert.Check(t, is.Equal(h.Gid, 5678))
					assert.Check(t, h.ModTime.Equal(mtime.Truncate(time.Second)), "mtime %v", h.ModTime)
				}
				if strings.HasSuffix(n, "passwd-") {
					assert.Check(t, is.Equal(h.Typeflag, byte(tar.TypeLink)))
					assert.Check(t, strings.HasSuffix(h.Linkname, "passwd"))
				}
				if n == "etcl" {
					assert.Check(t, is.Equal(h.Linkname, "/etc"))
				}
			}
		})
	}
}

func TestArchiveAll(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	_, r := tree(t)
	var buf bytes.Buffer
	assert.NilError(t, r.ArchiveAll(&buf, nil))
	names, _, _ := entries(t, buf.Bytes())
	assert.Check(t, is.Contains(names, "etc/hostname"))
	assert.Check(t, is.Contains(names, "escape"))
	for _, n := range names {
		assert.Check(t, !strings.HasPrefix(n, "/") && !strings.HasPrefix(n, "./"), n)
		assert.Check(t, !strings.Contains(n, "outside"), n)
	}
}

type entry struct {
	hdr  tar.Header
	body string
}

func mkTar(t *testing.T, es ...entry) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		assert.NilError(t, tw.WriteHeader(&h))
		_, err := tw.Write([]byte(e.body))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return &buf
}

func TestExtract(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, r := tree(t)
	mtime := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	dest, err := r.ResolveDir("/etcl")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(dest, "/etc"))
	err = r.Extract(mkTar(t,
		entry{hdr: tar.Header{Name: "new/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 7, Gid: 8, ModTime: mtime}},
		entry{hdr: tar.Header{Name: "new/file", Typeflag: tar.TypeReg, Mode: 0o4751, Uid: 1000, Gid: 1001, ModTime: mtime}, body: "data"},
		entry{hdr: tar.Header{Name: "/implied/dir/f", Typeflag: tar.TypeReg}, body: "x"},
		// A hard link's header applies to the shared inode too.
		entry{hdr: tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "new/file", Mode: 0o4751, Uid: 1000, Gid: 1001, ModTime: mtime}},
		entry{hdr: tar.Header{Name: "sl", Typeflag: tar.TypeSymlink, Linkname: "/", Mode: 0o777}},
		// Through the symlink just extracted: must land in the root.
		entry{hdr: tar.Header{Name: "sl/pwned", Typeflag: tar.TypeReg}, body: "inside"},
	), dest, ExtractOptions{})
	assert.NilError(t, err)
	st, err := os.Stat(filepath.Join(dir, "etc/new/file"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Mode(), os.FileMode(0o751)|os.ModeSetuid))
	assert.Check(t, st.ModTime().Equal(mtime))
	sys := st.Sys().(*syscall.Stat_t)
	assert.Check(t, is.Equal(sys.Uid, uint32(1000)))
	assert.Check(t, is.Equal(sys.Gid, uint32(1001)))
	assert.Check(t, is.Equal(sys.Nlink, uint64(2)))
	dst, err := os.Stat(filepath.Join(dir, "etc/new"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(dst.Mode().Perm(), os.FileMode(0o750)))
	assert.Check(t, dst.ModTime().Equal(mtime), "dir mtime %v", dst.ModTime())
	imp, err := os.Stat(filepath.Join(dir, "etc/implied/dir"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(imp.Mode().Perm(), os.FileMode(0o755)))
	b, err := os.ReadFile(filepath.Join(dir, "pwned"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(b), "inside"))
	_, err = os.Stat("/pwned")
	assert.Check(t, errors.Is(err, os.ErrNotExist), "an entry escaped to the host: %v", err)

	t.Run("chown", func(t *testing.T) {
		err := r.Extract(mkTar(t, entry{hdr: tar.Header{Name: "owned", Typeflag: tar.TypeReg, Uid: 5, Gid: 6}, body: "o"}),
			"/tmp", ExtractOptions{Chown: &Owner{UID: 65534, GID: 65533}})
		assert.NilError(t, err)
		st, err := os.Stat(filepath.Join(dir, "tmp/owned"))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(st.Sys().(*syscall.Stat_t).Uid, uint32(65534)))
		assert.Check(t, is.Equal(st.Sys().(*syscall.Stat_t).Gid, uint32(65533)))
	})
}

func TestExtractRefuses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	tests := []struct {
		name    string
		entries []entry
		opts    ExtractOptions
		wantErr string
	}{
		{name: "dotdot entry", entries: []entry{{hdr: tar.Header{Name: "../x", Typeflag: tar.TypeReg}, body: "x"}},
			wantErr: "invalid entry name"},
		{name: "hard link out", entries: []entry{{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../outside"}}},
			wantErr: "invalid hardlink target"},
		{name: "dir over file", entries: []entry{{hdr: tar.Header{Name: "hostname", Typeflag: tar.TypeDir, Mode: 0o755}}},
			opts: ExtractOptions{NoOverwriteDirNonDir: true}, wantErr: "cannot overwrite non-directory"},
		{name: "file over dir", entries: []entry{{hdr: tar.Header{Name: "sub", Typeflag: tar.TypeReg}, body: "x"}},
			opts: ExtractOptions{NoOverwriteDirNonDir: true}, wantErr: "cannot overwrite directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, r := tree(t)
			assert.NilError(t, os.Mkdir(filepath.Join(dir, "etc/sub"), 0o755))
			err := r.Extract(mkTar(t, tc.entries...), "/etc", tc.opts)
			assert.Check(t, is.ErrorContains(err, tc.wantErr))
			_, err = os.Stat(filepath.Join(filepath.Dir(dir), "h"))
			assert.Check(t, errors.Is(err, os.ErrNotExist))
		})
	}
	t.Run("overwrites without the option", func(t *testing.T) {
		dir, r := tree(t)
		assert.NilError(t, os.MkdirAll(filepath.Join(dir, "etc/sub/deep"), 0o755))
		err := r.Extract(mkTar(t, entry{hdr: tar.Header{Name: "sub", Typeflag: tar.TypeReg}, body: "now a file"}), "/etc", ExtractOptions{})
		assert.NilError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, "etc/sub"))
		assert.NilError(t, err)
		assert.Check(t, is.Equal(string(b), "now a file"))
	})
	t.Run("destination checks", func(t *testing.T) {
		_, r := tree(t)
		_, err := r.ResolveDir("/etc/hostname")
		assert.Check(t, errors.Is(err, ErrNotDirectory))
		_, err = r.ResolveDir("/missing")
		assert.Check(t, errors.Is(err, os.ErrNotExist))
		d, err := r.ResolveDir("/up/../escape/tmp")
		assert.NilError(t, err)
		assert.Check(t, is.Equal(d, "/tmp"))
	})
}

func TestChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := t.TempDir()
	lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
	mtime := time.Unix(1500000000, 0)
	write := func(root, p, data string) {
		assert.NilError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(root, p), []byte(data), 0o644))
		assert.NilError(t, os.Chtimes(filepath.Join(root, p), mtime, mtime))
	}
	write(lower, "etc/passwd", "root")
	write(lower, "etc/group", "root")
	write(lower, "etc/same", "same")
	write(lower, "opq/a", "a")
	write(lower, "opq/b", "b")
	write(lower, "bin/sh", "sh")
	assert.NilError(t, os.Symlink("/etc", filepath.Join(lower, "etclink")))
	// upper: a copied-up but unchanged file, a modified one, a whiteout,
	// an added tree, a runtime mountpoint, an opaque directory.
	write(upper, "etc/same", "same")
	write(upper, "etc/group", "root\nwheel")
	assert.NilError(t, unix.Mknod(filepath.Join(upper, "etc/passwd"), unix.S_IFCHR, 0))
	write(upper, "etc/hosts", "")
	write(upper, "newdir/x", "x")
	write(upper, "new", "n")
	write(upper, "opq/c", "c")
	assert.NilError(t, unix.Setxattr(filepath.Join(upper, "opq"), "trusted.overlay.opaque", []byte("y"), 0))
	// A path under a lower symlink is not "in lower".
	write(upper, "etclink/x", "x")
	for _, d := range []string{"etc", "opq"} {
		fi, err := os.Stat(filepath.Join(lower, d))
		assert.NilError(t, err)
		assert.NilError(t, os.Chmod(filepath.Join(upper, d), fi.Mode().Perm()))
	}

	lf, err := os.Open(lower)
	assert.NilError(t, err)
	defer lf.Close()
	uf, err := os.Open(upper)
	assert.NilError(t, err)
	defer uf.Close()
	got, err := Changes(uf, lf, ChangesOptions{Mountpoints: []string{"/etc/hosts"}})
	assert.NilError(t, err)
	var lines []string
	for _, c := range got {
		lines = append(lines, "CAD"[c.Kind:c.Kind+1]+" "+c.Path)
	}
	want := []string{
		"C /etc", "C /etc/group", "D /etc/passwd",
		"C /etclink", "A /etclink/x",
		"A /new", "A /newdir", "A /newdir/x",
		"C /opq", "D /opq/a", "D /opq/b", "A /opq/c",
	}
	// /etclink is a symlink in lower and a directory in upper: modified.
	assert.Check(t, is.DeepEqual(lines, want))
	assert.Check(t, sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Path < got[j].Path }))

	all, err := Changes(uf, nil, ChangesOptions{})
	assert.NilError(t, err)
	for _, c := range all {
		if c.Kind != Added {
			t.Errorf("without a lower tree every change is an addition: %v", c)
		}
	}
}

func TestLookupOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, r := tree(t)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n# comment\napp:x:1000:1001::/:/bin/sh\n"), 0o644))
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\nstaff:x:50:app\n"), 0o644))
	tests := []struct {
		spec    string
		want    Owner
		wantErr string
	}{
		{spec: "app", want: Owner{1000, 1001}},
		{spec: "1000", want: Owner{1000, 1001}},
		{spec: "4242", want: Owner{4242, 0}},
		{spec: "app:staff", want: Owner{1000, 50}},
		{spec: "app:77", want: Owner{1000, 77}},
		{spec: ":50", want: Owner{0, 50}},
		{spec: "nobody", wantErr: `failed to look up user "nobody"`},
		{spec: "app:nogroup", wantErr: `failed to look up group "nogroup"`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := r.LookupOwner(tc.spec)
			if tc.wantErr != "" {
				assert.Check(t, is.ErrorContains(err, tc.wantErr))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got, tc.want))
		})
	}
}
