// Package testcontainers runs testcontainers-go (pinned in this module's
// go.mod) against the daemon under test: the same calls a Go project's
// integration tests make, from GenericContainer with wait strategies to
// networks with aliases, the Ryuk reaper and FromDockerfile, and the ways
// users point testcontainers-go at a daemon (DOCKER_HOST, a docker context,
// the default socket).
//
// The daemon is started by the harness (tests/testutil/daemon); DOCKER_HOST
// and TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE point testcontainers-go at its
// socket before the first testcontainers-go call (it reads them once per
// process). No registry is reachable, so the images come from `docker load`:
//
//   - busyboxImage: the busybox image of tests/testutil/busybox;
//   - the reaper image, testcontainers/ryuk:0.14.0 (the tag testcontainers-go
//     v0.45.0 expects), wrapped around a static binary: a genuine Ryuk given
//     by $HYPERBOX_TEST_RYUK or <repo>/bin/ryuk (`make ryuk`) when present,
//     else this module's own reaper (./reaper), built at TestMain time
//     (HYPERBOX_TEST_RYUK=own forces it). Ryuk is always enabled.
//
// Tests that need a separate testcontainers-go session (the reaper and
// daemon-discovery tests) re-run this test binary as a child process with
// a minimal environment (childEnv set); TestMain then skips the harness.
//
// With HYPERBOX_TEST_TARGET=dockerd the same tests run against dockerd with
// its networking on (daemon.WithNetworking).
package testcontainers

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/skip"
)

const (
	// busyboxImage is the tag the busybox test image is loaded under.
	busyboxImage = "hbx-tc-busybox:latest"
	// ryukImage is config.ReaperDefaultImage of testcontainers-go v0.45.0.
	ryukImage = "testcontainers/ryuk:0.14.0"
	// childEnv marks the test binary re-run as a separate testcontainers-go
	// session by TestReaperRemovesContainers and TestDaemonDiscovery.
	childEnv = "HBX_TC_CHILD"
	// ownReaper as $HYPERBOX_TEST_RYUK selects ./reaper even if bin/ryuk exists.
	ownReaper = "own"
)

// shared is the daemon all tests of this package use.
var shared *daemon.Daemon

// reaperBinary names the binary inside the reaper image: a genuine Ryuk's
// path or "./reaper (built)".
var reaperBinary string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A separate testcontainers-go session: the parent chose its
		// environment (see childEnvironment).
		if err := childSetup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	// The harness looks for bin/hyperboxd next to the go.mod it finds, which
	// is this module's: default to the repository's instead.
	if os.Getenv("HYPERBOXD") == "" {
		if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "hyperboxd")); err == nil {
			os.Setenv("HYPERBOXD", p)
		}
	}
	os.Exit(daemon.Main(m, setupDaemon, daemon.WithNetworking()))
}

func setupDaemon(d *daemon.Daemon) error {
	shared = d
	// testcontainers-go reads these once, on its first call.
	os.Unsetenv("DOCKER_CONTEXT")
	os.Unsetenv("DOCKER_TLS_VERIFY")
	os.Unsetenv("DOCKER_CERT_PATH")
	os.Setenv("DOCKER_HOST", d.Host())
	os.Setenv("TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE", d.Socket())
	os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	dir, err := os.MkdirTemp("", "hbx-tc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "busybox.tar")
	if err := busybox.SaveDockerArchive(archive, busyboxImage); err != nil {
		return err
	}
	if err := load(d, archive, busyboxImage); err != nil {
		return err
	}
	bin := ryukBinary()
	reaperBinary = bin
	if bin == "" {
		bin = filepath.Join(dir, "reaper")
		if err := buildReaper(bin); err != nil {
			return err
		}
		reaperBinary = "./reaper (built)"
	}
	fmt.Fprintf(os.Stderr, "reaper image %s wraps %s\n", ryukImage, reaperBinary)
	archive = filepath.Join(dir, "ryuk.tar")
	if err := writeRyukArchive(bin, archive); err != nil {
		return fmt.Errorf("ryuk image: %w", err)
	}
	if err := load(d, archive, ryukImage); err != nil {
		return err
	}
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "false")
	return nil
}

// buildReaper builds ./reaper as a static binary at out.
func buildReaper(out string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", out, "./reaper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building ./reaper: %w\n%s", err, b)
	}
	return nil
}

func load(d *daemon.Daemon, archive, tag string) error {
	res := d.Run("load", "-i", archive)
	if res.Error != nil || !strings.Contains(res.Stdout(), "Loaded image: "+tag) {
		return fmt.Errorf("docker load %s: %s", tag, res.String())
	}
	return nil
}

// ryukBinary returns the genuine Ryuk to use: $HYPERBOX_TEST_RYUK, else
// <repo>/bin/ryuk if it exists; "" means build ./reaper.
func ryukBinary() string {
	if p := os.Getenv("HYPERBOX_TEST_RYUK"); p != "" {
		if p == ownReaper {
			return ""
		}
		return p
	}
	root, err := daemon.RepoRoot()
	if err != nil {
		return ""
	}
	// RepoRoot finds this module's go.mod; the repository is two levels up.
	for _, p := range []string{filepath.Join(root, "bin", "ryuk"), filepath.Join(root, "..", "..", "bin", "ryuk")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// writeRyukArchive writes a docker-archive of a one-layer image holding the
// static reaper binary at /bin/ryuk, configured like the upstream image
// (CMD /bin/ryuk, label org.testcontainers.ryuk=true), tagged ryukImage.
func writeRyukArchive(bin, archive string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mod},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: mod},
		{Name: "bin/ryuk", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: mod},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// LayerFromOpener, not LayerFromReader: the latter buffers the layer in
	// a temporary file it never removes.
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{
		Cmd:    []string{"/bin/ryuk"},
		Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels: map[string]string{"org.testcontainers.ryuk": "true"},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(ryukImage)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(archive, tag, img)
}

// setup returns the shared daemon and prints its log if the test fails.
func setup(t *testing.T) *daemon.Daemon {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	shared.LogOnFailure(t)
	return shared
}
