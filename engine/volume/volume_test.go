package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "simple", in: "data", want: true},
		{name: "dots dashes underscores", in: "a.b-c_d", want: true},
		{name: "generated", in: NewName(), want: true},
		{name: "too short", in: "a", want: false},
		{name: "empty", in: "", want: false},
		{name: "traversal", in: "../../etc", want: false},
		{name: "dot dot", in: "..", want: false},
		{name: "slash", in: "a/b", want: false},
		{name: "leading dash", in: "-x", want: false},
		{name: "leading dot", in: ".hidden", want: false},
		{name: "nul", in: "ab\x00", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, is.Equal(ValidName(tc.in), tc.want))
		})
	}
}

func TestCreateGetListRemove(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)

	v, created, err := s.Create("data", CreateOptions{Labels: map[string]string{"a": "b"}}, "")
	assert.NilError(t, err)
	assert.Check(t, created)
	assert.Check(t, is.Equal(v.Mountpoint, filepath.Join(root, "data", "_data")))
	assert.Check(t, is.Equal(v.Driver, "local"))
	assert.Check(t, !v.CreatedAt.IsZero())
	fi, err := os.Stat(v.Mountpoint)
	assert.NilError(t, err)
	assert.Check(t, fi.IsDir())

	// A second create returns the first volume unchanged.
	again, created, err := s.Create("data", CreateOptions{Labels: map[string]string{"other": "x"}}, "")
	assert.NilError(t, err)
	assert.Check(t, !created)
	assert.Check(t, is.DeepEqual(again.Labels, map[string]string{"a": "b"}))

	anon, created, err := s.Create("", CreateOptions{}, "")
	assert.NilError(t, err)
	assert.Check(t, created)
	assert.Check(t, is.Len(anon.Name, 64))
	assert.Check(t, anon.Labels == nil, "nil labels stay nil")

	got, err := s.Get("data")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, v))
	assert.Check(t, is.Len(s.List(), 2))

	_, err = s.Get("nosuch")
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)
	assert.Check(t, errdefs.IsNotFound(s.Remove("nosuch")))

	assert.NilError(t, s.Remove("data"))
	_, err = os.Stat(filepath.Join(root, "data"))
	assert.Check(t, os.IsNotExist(err))
	assert.Check(t, is.Len(s.List(), 1))
}

func TestCreateRefused(t *testing.T) {
	t.Parallel()
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	for _, name := range []string{"../../etc", "a", "x/y", ".."} {
		_, _, err := s.Create(name, CreateOptions{}, "")
		assert.Check(t, errdefs.IsInvalidArgument(err), "%q: %v", name, err)
	}
	for _, opts := range []map[string]string{{"type": "tmpfs"}, {"o": "size=1m", "device": "tmpfs"}, {"bogus": "1"}, {"size": "10m"}} {
		_, _, err = s.Create("withopts", CreateOptions{Options: opts}, "")
		assert.Check(t, errdefs.IsInvalidArgument(err), "%v: %v", opts, err)
	}
	assert.Check(t, is.Len(s.List(), 0))
}

func TestRefs(t *testing.T) {
	t.Parallel()
	s, err := New(t.TempDir())
	assert.NilError(t, err)
	_, _, err = s.Create("shared", CreateOptions{}, "c2")
	assert.NilError(t, err)
	assert.NilError(t, s.AddRef("shared", "c1"))
	assert.Check(t, errdefs.IsNotFound(s.AddRef("nosuch", "c1")))
	assert.Check(t, is.DeepEqual(s.Refs("shared"), []string{"c1", "c2"}))

	err = s.Remove("shared")
	var inUse *InUseError
	assert.Assert(t, errors.As(err, &inUse), "got %v", err)
	assert.Check(t, errdefs.IsConflict(err))
	assert.Check(t, is.DeepEqual(inUse.Refs, []string{"c1", "c2"}))

	s.Release("shared", "c1")
	s.Release("shared", "c2")
	s.Release("shared", "c3") // unknown refs are ignored
	assert.Check(t, is.Len(s.Refs("shared"), 0))
	assert.NilError(t, s.Remove("shared"))
}

// Volumes, their labels and options survive a reopen of the store; a
// directory with only a data directory (a crash during create) is a volume,
// other directories and leftovers of unfinished removals are not.
func TestReopen(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	s, err := New(root)
	assert.NilError(t, err)
	v, _, err := s.Create("keep", CreateOptions{Labels: map[string]string{"k": "v"}}, "")
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("hello"), 0o644))
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "crashed", "_data"), 0o755))
	assert.NilError(t, os.MkdirAll(filepath.Join(root, "notavolume"), 0o755))
	assert.NilError(t, os.MkdirAll(filepath.Join(root, ".removing-old", "_data"), 0o755))

	s2, err := New(root)
	assert.NilError(t, err)
	got, err := s2.Get("keep")
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got, v))
	_, err = s2.Get("crashed")
	assert.NilError(t, err)
	_, err = s2.Get("notavolume")
	assert.Check(t, errdefs.IsNotFound(err))
	_, err = os.Stat(filepath.Join(root, ".removing-old"))
	assert.Check(t, os.IsNotExist(err))
	size, err := s2.Size("keep")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(size, int64(5)))
}
