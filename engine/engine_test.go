package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/storage"
	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/ctrd"
)

var (
	address  string
	startErr error
)

func TestMain(m *testing.M) {
	_ = log.SetLevel("warn")
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		addr, stop, err := ctrd.Start()
		if err != nil {
			startErr = err
			return m.Run()
		}
		address = addr
		defer stop()
		return m.Run()
	}()
	os.Exit(code)
}

// env is one test's engine: its own containerd namespace, directories and
// busybox image.
type env struct {
	ctx    context.Context
	client *containerd.Client
	store  *storage.Store
	opts   engine.Options
	e      *engine.Engine
	image  string
}

var nsUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containers")
	}
	assert.NilError(t, startErr, "containerd did not start")
	client, err := containerd.New(address)
	assert.NilError(t, err)
	ns := strings.ToLower(nsUnsafe.ReplaceAllString(t.Name(), "-"))
	ctx := namespaces.WithNamespace(context.Background(), ns)
	store := storage.New(client, storage.Options{})
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	assert.NilError(t, busybox.SaveDockerArchive(archive, "busybox:latest"))
	f, err := os.Open(archive)
	assert.NilError(t, err)
	_, err = store.Load(ctx, f, nil)
	f.Close()
	assert.NilError(t, err)
	img, err := store.Get(ctx, "docker.io/library/busybox:latest")
	assert.NilError(t, err)

	runtimes := map[string]string{}
	for _, n := range []string{"crun", "runc"} {
		if p, err := exec.LookPath(n); err == nil {
			runtimes[n] = p
		}
	}
	dir := t.TempDir()
	x := &env{ctx: ctx, client: client, store: store, image: img.ID.String(), opts: engine.Options{
		Client: client, Store: store, Namespace: ns,
		Root: filepath.Join(dir, "containers"), ExecRoot: filepath.Join(dir, "exec"),
		Runtimes: runtimes, DefaultRuntime: "crun", LogMaxSize: 1 << 20, LogMaxFiles: 2,
	}}
	engine.PrepareCgroups(ctx)
	x.e, err = engine.New(ctx, x.opts)
	assert.NilError(t, err)
	t.Cleanup(func() {
		for _, c := range x.e.List(ctx) {
			_ = x.e.Remove(ctx, c.ID, engine.RemoveOptions{Force: true})
		}
		// Close waits for the task deletes and removals still under way;
		// a task left behind would keep its shim running after the test.
		_ = x.e.Close()
		_, _ = store.Delete(ctx, img.ID.String(), storage.DeleteOptions{Force: true})
		client.Close()
	})
	return x
}

func (x *env) create(t *testing.T, spec engine.ContainerSpec) engine.Container {
	t.Helper()
	spec.Image = x.image
	spec.Env = append(spec.Env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	c, _, err := x.e.Create(x.ctx, spec, nil)
	assert.NilError(t, err)
	return c
}

// logs returns the logged stdout and stderr of a container.
func (x *env) logs(t *testing.T, id string) (string, string) {
	t.Helper()
	var out, errb strings.Builder
	assert.NilError(t, x.e.Logs(x.ctx, id, engine.LogOptions{Tail: -1}, func(en engine.LogEntry) error {
		if en.Stream == "stderr" {
			errb.WriteString(en.Log)
		} else {
			out.WriteString(en.Log)
		}
		return nil
	}))
	return out.String(), errb.String()
}

func wait(t *testing.T, ch <-chan engine.ExitStatus) int {
	t.Helper()
	select {
	case st := <-ch:
		return st.ExitCode
	case <-time.After(30 * time.Second):
		t.Fatal("container did not exit")
		return -1
	}
}

func TestRunToExit(t *testing.T) {
	x := newEnv(t)
	for _, rt := range []string{"crun", "runc"} {
		t.Run(rt, func(t *testing.T) {
			c := x.create(t, engine.ContainerSpec{Runtime: rt, Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
			ch, err := x.e.Wait(x.ctx, c.ID, engine.WaitNextExit)
			assert.NilError(t, err)
			assert.NilError(t, x.e.Start(x.ctx, c.ID))
			assert.Equal(t, wait(t, ch), 3)
			out, errs := x.logs(t, c.ID)
			assert.Check(t, is.Equal(out, "out\n"))
			assert.Check(t, is.Equal(errs, "err\n"))
			got, err := x.e.Get(x.ctx, c.ID)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(got.State.Status, engine.StatusExited))
			assert.Check(t, is.Equal(got.State.ExitCode, 3))
			assert.Check(t, !got.State.FinishedAt.IsZero())
			assert.Check(t, errdefs.IsNotModified(x.e.Stop(x.ctx, c.ID, "", nil)))
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the copier goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAttachBeforeStartLosesNothing(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Args: []string{"seq", "1", "3000"}})
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- x.e.Attach(x.ctx, c.ID, engine.AttachOptions{Stdout: &out, Stream: true}) }()
	// Attach registers synchronously inside; give the goroutine a moment.
	time.Sleep(100 * time.Millisecond)
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	select {
	case err := <-done:
		assert.NilError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("attach did not end at exit")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Equal(t, len(lines), 3000)
	assert.Equal(t, lines[0], "1")
	assert.Equal(t, lines[2999], "3000")
}

func TestStdinOnce(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Args: []string{"cat"}, OpenStdin: true, StdinOnce: true})
	var out syncBuffer
	ch, err := x.e.Wait(x.ctx, c.ID, engine.WaitNextExit)
	assert.NilError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- x.e.Attach(x.ctx, c.ID, engine.AttachOptions{Stdin: strings.NewReader("from stdin\n"), Stdout: &out, Stream: true})
	}()
	time.Sleep(100 * time.Millisecond)
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	// Closing the client's input closes the container's stdin: cat ends.
	assert.Equal(t, wait(t, ch), 0)
	assert.NilError(t, <-done)
	assert.Equal(t, out.String(), "from stdin\n")
}

func TestStopEscalatesToKill(t *testing.T) {
	x := newEnv(t)
	// PID 1 without a TERM handler ignores SIGTERM.
	c := x.create(t, engine.ContainerSpec{Args: []string{"sleep", "300"}})
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	one := 1
	start := time.Now()
	assert.NilError(t, x.e.Stop(x.ctx, c.ID, "", &one))
	assert.Check(t, time.Since(start) < 10*time.Second, "stop took %s", time.Since(start))
	got, err := x.e.Get(x.ctx, c.ID)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.State.ExitCode, 137))
}

func TestNamesAndRemoval(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Name: "web", Args: []string{"sleep", "300"}})
	_, _, err := x.e.Create(x.ctx, engine.ContainerSpec{Name: "web", Image: x.image, Args: []string{"true"}}, nil)
	var nc *engine.NameConflictError
	assert.Assert(t, errorsAs(err, &nc), "got %v", err)
	assert.Check(t, is.Equal(nc.ID, c.ID))
	assert.Check(t, errdefs.IsConflict(err))

	_, _, err = x.e.Create(x.ctx, engine.ContainerSpec{Name: "a/b", Image: x.image, Args: []string{"true"}}, nil)
	assert.Check(t, errdefs.IsInvalidArgument(err))

	assert.NilError(t, x.e.Start(x.ctx, "web"))
	err = x.e.Remove(x.ctx, "web", engine.RemoveOptions{})
	var re *engine.RunningError
	assert.Check(t, errorsAs(err, &re), "got %v", err)
	assert.NilError(t, x.e.Rename("web", "web2"))
	_, err = x.e.Get(x.ctx, "web")
	assert.Check(t, errdefs.IsNotFound(err))
	ch, err := x.e.Wait(x.ctx, "web2", engine.WaitRemoved)
	assert.NilError(t, err)
	assert.NilError(t, x.e.Remove(x.ctx, "web2", engine.RemoveOptions{Force: true}))
	assert.Equal(t, wait(t, ch), 137)
	_, err = x.e.Get(x.ctx, c.ID)
	assert.Check(t, errdefs.IsNotFound(err))
}

// A new engine on the same directories (a daemon restart) finds the
// running container, reattaches to its output and still controls it.
func TestRestoreRunning(t *testing.T) {
	x := newEnv(t)
	c := x.create(t, engine.ContainerSpec{Args: []string{"sh", "-c", "i=0; while :; do echo n$i; i=$((i+1)); sleep 0.1; done"}})
	assert.NilError(t, x.e.Start(x.ctx, c.ID))
	before, err := x.e.Get(x.ctx, c.ID)
	assert.NilError(t, err)
	time.Sleep(300 * time.Millisecond)

	e2, err := engine.New(x.ctx, x.opts)
	assert.NilError(t, err)
	x.e = e2 // cleanup uses the live engine
	got, err := e2.Get(x.ctx, c.ID)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.State.Status, engine.StatusRunning))
	assert.Check(t, is.Equal(got.State.Pid, before.State.Pid))
	out1, _ := x.logs(t, c.ID)
	time.Sleep(500 * time.Millisecond)
	out2, _ := x.logs(t, c.ID)
	assert.Check(t, len(out2) > len(out1), "no new output after restore")
	assert.Check(t, strings.HasPrefix(out2, "n0\nn1\n"))
	zero := 0
	assert.NilError(t, e2.Stop(x.ctx, c.ID, "", &zero))
	got, err = e2.Get(x.ctx, c.ID)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.State.Status, engine.StatusExited))
}

// A --rm container whose exit was recorded but whose removal the daemon
// did not get to before it stopped is removed at the next start, as
// dockerd does; an exited container without --rm stays.
func TestRestoreRemovesExitedAutoRemove(t *testing.T) {
	x := newEnv(t)
	rm := x.create(t, engine.ContainerSpec{Args: []string{"true"}})
	keep := x.create(t, engine.ContainerSpec{Args: []string{"true"}})
	for _, id := range []string{rm.ID, keep.ID} {
		ch, err := x.e.Wait(x.ctx, id, engine.WaitNextExit)
		assert.NilError(t, err)
		assert.NilError(t, x.e.Start(x.ctx, id))
		assert.Check(t, is.Equal(wait(t, ch), 0))
	}
	// What a stop between the two steps leaves: the record says exited,
	// with AutoRemove.
	cfg := filepath.Join(x.opts.Root, rm.ID, "config.json")
	data, err := os.ReadFile(cfg)
	assert.NilError(t, err)
	var rec map[string]any
	assert.NilError(t, json.Unmarshal(data, &rec))
	rec["Spec"].(map[string]any)["AutoRemove"] = true
	data, err = json.Marshal(rec)
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(cfg, data, 0o600))

	e2, err := engine.New(x.ctx, x.opts)
	assert.NilError(t, err)
	x.e = e2
	_, err = e2.Get(x.ctx, rm.ID)
	assert.Check(t, errdefs.IsNotFound(err), "the --rm container is still there: %v", err)
	got, err := e2.Get(x.ctx, keep.ID)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.State.Status, engine.StatusExited))
}
