package storage_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"gotest.tools/v3/assert"

	"github.com/hyperbox/hyperbox/storage"
	"github.com/hyperbox/hyperbox/tests/testutil/ctrd"
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
