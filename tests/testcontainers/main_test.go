// Package testcontainers runs testcontainers-go (pinned in this module's
// go.mod) against the daemon under test: the same calls a Go project's
// integration tests make, from GenericContainer with wait strategies to
// networks with aliases, the Ryuk reaper and FromDockerfile.
//
// The daemon is started by the harness (tests/testutil/daemon); DOCKER_HOST
// and TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE point testcontainers-go at its
// socket before the first testcontainers-go call (it reads them once per
// process). No registry is reachable, so the images come from `docker load`:
//
//   - busyboxImage: the busybox image of tests/testutil/busybox;
//   - the Ryuk reaper image, testcontainers/ryuk:0.14.0 (the tag
//     testcontainers-go v0.45.0 expects), wrapped around a static ryuk binary
//     given by $HYPERBOX_TEST_RYUK or <repo>/bin/ryuk (`make ryuk`). Without
//     that binary Ryuk is disabled (TESTCONTAINERS_RYUK_DISABLED=true) and the
//     reaper test is skipped.
//
// With HYPERBOX_TEST_TARGET=dockerd the same tests run against dockerd with
// its networking on (daemon.WithNetworking).
package testcontainers

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
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
	// childEnv marks the test binary re-run by TestReaperRemovesContainers
	// as a separate testcontainers-go session.
	childEnv = "HBX_TC_REAPER_CHILD"
)

// shared is the daemon all tests of this package use.
var shared *daemon.Daemon

// ryukLoaded tells whether the reaper image was loaded (Ryuk enabled).
var ryukLoaded bool

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A second testcontainers-go session for the reaper test: the
		// parent set DOCKER_HOST and the TESTCONTAINERS_* variables.
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
	if bin == "" {
		fmt.Fprintln(os.Stderr, "no ryuk binary ($HYPERBOX_TEST_RYUK, bin/ryuk; `make ryuk`): Ryuk disabled")
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		return nil
	}
	archive = filepath.Join(dir, "ryuk.tar")
	if err := writeRyukArchive(bin, archive); err != nil {
		return fmt.Errorf("ryuk image: %w", err)
	}
	if err := load(d, archive, ryukImage); err != nil {
		return err
	}
	ryukLoaded = true
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "false")
	return nil
}

func load(d *daemon.Daemon, archive, tag string) error {
	res := d.Run("load", "-i", archive)
	if res.Error != nil || !strings.Contains(res.Stdout(), "Loaded image: "+tag) {
		return fmt.Errorf("docker load %s: %s", tag, res.String())
	}
	return nil
}

// ryukBinary returns $HYPERBOX_TEST_RYUK, else <repo>/bin/ryuk if it exists.
func ryukBinary() string {
	if p := os.Getenv("HYPERBOX_TEST_RYUK"); p != "" {
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
// static ryuk binary at /bin/ryuk, configured like the upstream image
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
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
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
