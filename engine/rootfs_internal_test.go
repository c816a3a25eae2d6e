package engine

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// layers makes two lower layers and an upper one as the overlay
// snapshotter lays them out, and returns their overlay mount.
func layers(t *testing.T) mount.Mount {
	t.Helper()
	dir := t.TempDir()
	for p, content := range map[string]string{
		"l1/etc/base": "base\n", "l1/etc/shadowed": "lower\n",
		"l2/etc/mid": "mid\n", "u/etc/shadowed": "upper\n", "u/etc/new": "new\n",
	} {
		assert.NilError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		assert.NilError(t, os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644))
	}
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "w"), 0o755))
	return mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "workdir=" + filepath.Join(dir, "w"), "upperdir=" + filepath.Join(dir, "u"),
		"lowerdir=" + filepath.Join(dir, "l2") + ":" + filepath.Join(dir, "l1"),
	}}
}

func mountinfoHas(t *testing.T, s string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	assert.NilError(t, err)
	return strings.Contains(string(b), s)
}

func readUnder(t *testing.T, root *os.File, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc/self/fd", strconv.Itoa(int(root.Fd())), p))
	assert.NilError(t, err)
	return string(b)
}

// Snapshot views: detached (visible in no mountinfo), read-only with the
// writable layer on top, writable as the snapshot mounts; the exec-root
// fallback leaves nothing mounted once closed.
func TestMountViews(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	e := &Engine{opts: Options{ExecRoot: t.TempDir()}}
	ctx := context.Background()
	m := layers(t)
	for _, writable := range []bool{false, true} {
		root, closer, err := e.mountDetached(ctx, []mount.Mount{m}, writable)
		assert.NilError(t, err)
		assert.Check(t, is.Equal(readUnder(t, root, "etc/shadowed"), "upper\n"))
		assert.Check(t, is.Equal(readUnder(t, root, "etc/base"), "base\n"))
		assert.Check(t, is.Equal(readUnder(t, root, "etc/mid"), "mid\n"))
		assert.Check(t, !mountinfoHas(t, "upperdir="+parseOverlay(m.Options).upper), "detached mount is visible")
		err = os.WriteFile(filepath.Join("/proc/self/fd", strconv.Itoa(int(root.Fd())), "etc/written"), []byte("x"), 0o644)
		assert.Check(t, is.Equal(err == nil, writable), "write: %v", err)
		closer()
	}

	root, closer, err := e.tempMount(ctx, []mount.Mount{m}, false)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(readUnder(t, root, "etc/shadowed"), "upper\n"))
	assert.Check(t, mountinfoHas(t, e.opts.ExecRoot))
	closer()
	assert.Check(t, !mountinfoHas(t, e.opts.ExecRoot), "fallback mount left behind")
	entries, err := os.ReadDir(filepath.Join(e.opts.ExecRoot, "rootfs"))
	assert.NilError(t, err)
	assert.Check(t, is.Len(entries, 0))
}
