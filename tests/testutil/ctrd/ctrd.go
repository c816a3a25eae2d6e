// Package ctrd starts a private containerd for package tests that need a
// real one (storage, engine): the repo's bin/containerd under
// engine/supervisor, with its root and state in temporary directories.
package ctrd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hyperbox/hyperbox/engine/supervisor"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// Start runs containerd (building bin/containerd and its shim when missing)
// and returns its socket address and a cleanup that stops it and removes
// everything it left (mounts, directories).
func Start() (string, func(), error) {
	repo, err := daemon.RepoRoot()
	if err != nil {
		return "", nil, err
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if _, err := os.Stat(filepath.Join(repo, "bin", b)); err == nil {
			continue
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join("bin", b), "github.com/containerd/containerd/v2/cmd/"+b)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("build %s: %v: %s", b, err, out)
		}
	}
	// Socket paths must stay under 108 bytes: a short directory of our own.
	dir, err := os.MkdirTemp("/tmp", "hbct")
	if err != nil {
		return "", nil, err
	}
	cfg := supervisor.Config{
		Binary:   filepath.Join(repo, "bin", "containerd"),
		Root:     filepath.Join(dir, "root"),
		State:    filepath.Join(dir, "s"),
		LogLevel: "warn",
		LogFile:  filepath.Join(dir, "containerd.log"),
	}
	sup, err := supervisor.Start(context.Background(), cfg)
	cleanup := func() {
		if sup != nil {
			sup.Stop(10 * time.Second)
		}
		_ = daemon.UnmountUnder(dir)
		_ = os.RemoveAll(dir)
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return cfg.Address(), cleanup, nil
}
