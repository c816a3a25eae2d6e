package volume

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestValidateOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts map[string]string
		want *OptionError
	}{
		{name: "none"},
		{name: "tmpfs", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
		{name: "bind", opts: map[string]string{"type": "none", "device": "/srv", "o": "bind"}},
		{name: "unknown", opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "zz": "1"}, want: &OptionError{Unknown: "zz"}},
		{name: "device alone", opts: map[string]string{"device": "tmpfs"}, want: &OptionError{Missing: "type"}},
		{name: "type alone", opts: map[string]string{"type": "tmpfs"}, want: &OptionError{Missing: "device"}},
		{name: "o alone", opts: map[string]string{"o": "bind"}, want: &OptionError{Missing: "device"}},
		{name: "quota", opts: map[string]string{"size": "1g"}, want: &OptionError{Quota: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateOptions(tc.opts)
			if tc.want == nil {
				assert.NilError(t, err)
				return
			}
			assert.Check(t, errdefs.IsInvalidArgument(err))
			assert.Check(t, is.DeepEqual(err, tc.want))
		})
	}
}

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	ok, err := mountinfo.Mounted(dir)
	assert.NilError(t, err)
	return ok
}

// A volume with a device is mounted by the first Mount and unmounted by the
// last Unmount; a store reopened over a mounted volume (a daemon restart)
// keeps it for RestoreMount or unmounts it as idle; Remove never deletes
// through a mount.
func TestMountLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)
	v, _, err := s.Create("tv", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}, "")
	assert.NilError(t, err)
	t.Cleanup(func() { _ = mount.UnmountAll(v.Mountpoint, unix.MNT_DETACH) })

	p, err := s.Mount("tv")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(p, v.Mountpoint))
	assert.Check(t, mounted(t, p))
	assert.NilError(t, os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o644))
	_, err = s.Mount("tv")
	assert.NilError(t, err)
	assert.NilError(t, s.Unmount("tv"))
	assert.Check(t, mounted(t, p), "still used once")

	// The daemon restarts with the volume still in use.
	s2, err := New(root)
	assert.NilError(t, err)
	s2.RestoreMount("tv")
	assert.Check(t, is.Len(s2.UnmountIdle(), 0))
	assert.Check(t, mounted(t, p))
	_, err = os.Stat(filepath.Join(p, "f"))
	assert.Check(t, err)
	assert.NilError(t, s2.Unmount("tv"))
	assert.Check(t, !mounted(t, p), "unmounted with its last user")
	_, err = os.Stat(filepath.Join(p, "f"))
	assert.Check(t, os.IsNotExist(err))

	// Left mounted with no user: UnmountIdle after a restart.
	_, err = s2.Mount("tv")
	assert.NilError(t, err)
	s3, err := New(root)
	assert.NilError(t, err)
	assert.Check(t, is.Len(s3.UnmountIdle(), 0))
	assert.Check(t, !mounted(t, p))

	// Something mounted on a plain volume: Remove refuses, nothing deleted.
	host := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(host, "precious"), []byte("x"), 0o644))
	pv, _, err := s3.Create("plain", CreateOptions{}, "")
	assert.NilError(t, err)
	assert.NilError(t, unix.Mount(host, pv.Mountpoint, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = mount.UnmountAll(pv.Mountpoint, unix.MNT_DETACH) })
	assert.Check(t, s3.Remove("plain") != nil)
	_, err = os.Stat(filepath.Join(host, "precious"))
	assert.Check(t, err, "Remove deleted through a mount")
	assert.NilError(t, unix.Unmount(pv.Mountpoint, 0))
	assert.NilError(t, s3.Remove("plain"))
	assert.NilError(t, s3.Remove("tv"))
}
