package storage_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/engine/supervisor"
	"github.com/hyperbox/hyperbox/storage"
)

// address is the socket of the containerd the tests share ("" when not
// root or when it failed to start: tests then skip).
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
		stop, err := startContainerd()
		if err != nil {
			startErr = err
			return m.Run()
		}
		defer stop()
		return m.Run()
	}()
	os.Exit(code)
}

// startContainerd runs a private containerd from <repo>/bin (building it
// when missing) with its root and state in temporary directories.
func startContainerd() (func(), error) {
	repo, err := filepath.Abs("..")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(repo, "bin", "containerd")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if _, err := os.Stat(filepath.Join(repo, "bin", b)); err == nil {
			continue
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join("bin", b), "github.com/containerd/containerd/v2/cmd/"+b)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v: %s", b, err, out)
		}
	}
	root, err := os.MkdirTemp("", "hbst-root")
	if err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp("/tmp", "hbst")
	if err != nil {
		return nil, err
	}
	cfg := supervisor.Config{
		Binary:   bin,
		Root:     root,
		State:    state,
		LogLevel: "warn",
		LogFile:  filepath.Join(root, "containerd.log"),
	}
	sup, err := supervisor.Start(context.Background(), cfg)
	cleanup := func() {
		if sup != nil {
			sup.Stop(10 * time.Second)
		}
		unmountUnder(root, state)
		os.RemoveAll(state)
		os.RemoveAll(root)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	address = cfg.Address()
	return cleanup, nil
}

// unmountUnder detaches every mount below the given directories, deepest
// first.
func unmountUnder(dirs ...string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		for _, d := range dirs {
			if strings.HasPrefix(fields[4], d+"/") || fields[4] == d {
				mounts = append(mounts, fields[4])
			}
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
}

// env is one test's view: a client, a namespace of its own and a Store.
type env struct {
	ctx    context.Context
	client *containerd.Client
	store  *storage.Store
}

var nsUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// newEnv skips unless root and gives the test a fresh namespace, removing
// its images (and so, through GC, their content and snapshots) at the end.
func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	if startErr != nil || address == "" {
		t.Fatalf("containerd did not start: %v", startErr)
	}
	client, err := containerd.New(address)
	assert.NilError(t, err)
	ns := strings.ToLower(nsUnsafe.ReplaceAllString(t.Name(), "-"))
	ctx := namespaces.WithNamespace(context.Background(), ns)
	t.Cleanup(func() {
		is := client.ImageService()
		imgs, _ := is.List(ctx)
		for _, img := range imgs {
			_ = is.Delete(ctx, img.Name)
		}
		client.Close()
	})
	return &env{ctx: ctx, client: client, store: storage.New(client, storage.Options{})}
}
