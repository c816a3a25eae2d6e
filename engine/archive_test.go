package engine_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/storage"
)

func tarOf(t *testing.T, files map[string]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		assert.NilError(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), Uid: 7, Gid: 8}))
		_, err := tw.Write([]byte(body))
		assert.NilError(t, err)
	}
	assert.NilError(t, tw.Close())
	return &buf
}

// archive returns the entries of ArchivePath(p).
func (x *env) archive(t *testing.T, id, p string) (engine.PathStat, map[string]string) {
	t.Helper()
	var st engine.PathStat
	var buf bytes.Buffer
	err := x.e.ArchivePath(x.ctx, id, p, func(s engine.PathStat) (io.Writer, error) {
		st = s
		return &buf, nil
	})
	assert.NilError(t, err)
	out := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		assert.NilError(t, err)
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
	return st, out
}

// mountsUnder lists mount points under dir (none must be left behind).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	assert.NilError(t, err)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			out = append(out, f[4])
		}
	}
	return out
}

// Files go into a created container, are seen by it when it runs, can be
// read back in every state, and nothing stays mounted.
func TestArchiveLifecycle(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Args: []string{"sh", "-c", "cat /tmp/in; echo made > /made; ln -s / /escape"}})

	assert.NilError(t, x.e.ExtractToDir(x.ctx, c.ID, "/tmp", tarOf(t, map[string]string{"in": "hello\n"}), engine.ExtractOptions{}))
	st, err := x.e.StatPath(x.ctx, c.ID, "/tmp/in")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.Name, "in"))
	assert.Check(t, is.Equal(st.Size, int64(6)))

	_, err = x.e.StatPath(x.ctx, c.ID, "/nope")
	var pnf *engine.PathNotFoundError
	assert.Check(t, errors.As(err, &pnf) && errdefs.IsNotFound(err), "got %v", err)
	err = x.e.ExtractToDir(x.ctx, c.ID, "/etc/passwd", tarOf(t, nil), engine.ExtractOptions{})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)

	ch, err := x.e.Wait(x.ctx, c.ID, engine.WaitNextExit)
	assert.NilError(t, err)
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	assert.Equal(t, wait(t, ch), 0)
	out, _ := x.logs(t, c.ID)
	assert.Check(t, is.Equal(out, "hello\n"))

	// Stopped: the snapshot, symlinks resolved inside it.
	_, files := x.archive(t, c.ID, "/escape/made")
	assert.Check(t, is.Equal(files["made"], "made\n"))
	st, err = x.e.StatPath(x.ctx, c.ID, "/escape")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(st.LinkTarget, "/"))

	changes, err := x.e.Changes(x.ctx, c.ID)
	assert.NilError(t, err)
	var got []string
	for _, ch := range changes {
		got = append(got, "CAD"[ch.Kind:ch.Kind+1]+" "+ch.Path)
	}
	assert.Check(t, is.DeepEqual(got, []string{"A /escape", "A /made", "C /tmp", "A /tmp/in"}))

	// WithRootfs: the snapshot is mounted detached (in no mount namespace),
	// the hosts files bound in.
	assert.NilError(t, x.e.WithRootfs(x.ctx, c.ID, func(root string) error {
		assert.Check(t, is.Len(mountsUnder(t, x.opts.ExecRoot), 0), "the snapshot is mounted where others see it")
		b, err := os.ReadFile(root + "/etc/hostname") // no symlinks on this path
		assert.Check(t, is.Equal(string(b), c.ID[:12]+"\n"))
		return err
	}))

	var exported bytes.Buffer
	assert.NilError(t, x.e.Export(x.ctx, c.ID, func() (io.Writer, error) { return &exported, nil }))
	assert.Check(t, bytes.Contains(exported.Bytes(), []byte("made\n")))

	assert.Check(t, is.Len(mountsUnder(t, x.opts.ExecRoot), 0))
}

// A running container is read and written through its own root: a file
// put there is seen by its processes at once.
func TestArchiveRunning(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Args: []string{"sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.1; done; cat /tmp/go; sleep 300"}})
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	assert.NilError(t, x.e.ExtractToDir(x.ctx, c.ID, "/tmp", tarOf(t, map[string]string{"go": "seen\n"}), engine.ExtractOptions{}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := x.logs(t, c.ID)
		if out == "seen\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container did not see the file: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Its own view: the hostname file bound over /etc/hostname.
	_, files := x.archive(t, c.ID, "/etc/hostname")
	assert.Check(t, is.Equal(files["hostname"], c.ID[:12]+"\n"))

	img, err := x.e.Commit(x.ctx, c.ID, engine.CommitOptions{Pause: true, Image: storage.CommitConfig{Comment: "from a test"}})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = x.store.Delete(x.ctx, img.ID.String(), storage.DeleteOptions{Force: true}) })
	assert.Check(t, is.Len(img.Config.RootFS.DiffIDs, 2))
	assert.Check(t, is.Equal(img.Config.History[len(img.Config.History)-1].Comment, "from a test"))
	got, err := x.e.Get(x.ctx, c.ID)
	assert.NilError(t, err)
	assert.Check(t, got.State.Running, "commit left the container stopped")

	assert.Check(t, is.Len(mountsUnder(t, x.opts.ExecRoot), 0))
}
