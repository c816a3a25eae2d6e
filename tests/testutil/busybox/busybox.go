// Package busybox builds a small busybox image from the host's statically
// linked busybox (Debian package busybox-static), so tests need no registry
// access to get an image.
//
// The image has one layer: /bin/busybox, a symlink in /bin for every applet,
// the directories /etc /tmp (1777) /root /proc /sys /dev /var, and a minimal
// /etc/passwd and /etc/group. Its config runs "sh" with the usual PATH.
package busybox

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"gotest.tools/v3/assert"
)

// EnvBinary overrides the path of the static busybox binary (default /bin/busybox).
const EnvBinary = "HYPERBOX_TEST_BUSYBOX"

// DefaultPath is the PATH the image's config sets.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// created is the fixed creation time of the image and its files, so the image
// ID is the same in every run.
var created = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
const group = "root:x:0:\nnogroup:x:65534:\n"

// Option derives a variant of the base image.
type Option func(*v1.ConfigFile)

// WithLabel adds a config label; the result has a different image ID from the
// base image but shares its layer.
func WithLabel(key, value string) Option {
	return func(cf *v1.ConfigFile) {
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		cf.Config.Labels[key] = value
	}
}

type built struct {
	docker v1.Image // Docker schema 2 media types
	oci    v1.Image // OCI media types, same config
	err    error
}

var (
	once  sync.Once
	cache built
)

// Image returns the busybox image (Docker media types), built once per process.
func Image(t testing.TB, opts ...Option) v1.Image {
	t.Helper()
	return variant(t, base(t).docker, opts)
}

// OCIImage returns the same image with OCI media types.
func OCIImage(t testing.TB, opts ...Option) v1.Image {
	t.Helper()
	return variant(t, base(t).oci, opts)
}

// Push pushes the image to ref (e.g. "localhost:5000/e2e/busybox:latest").
func Push(t testing.TB, ref string, opts ...PushOption) {
	t.Helper()
	PushImage(t, Image(t), ref, opts...)
}

// WriteDockerArchive writes the image as a `docker save` style tarball
// (manifest.json + config + layers) tagged tag, e.g. "busybox:latest".
func WriteDockerArchive(t testing.TB, path, tag string, opts ...Option) {
	t.Helper()
	assert.NilError(t, SaveDockerArchive(path, tag, opts...))
}

// SaveDockerArchive is WriteDockerArchive for callers without a testing.T
// (TestMain).
func SaveDockerArchive(path, tag string, opts ...Option) error {
	once.Do(func() { cache = build() })
	if cache.err != nil {
		return cache.err
	}
	img, err := applyOptions(cache.docker, opts)
	if err != nil {
		return err
	}
	tg, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tg, img)
}

// WriteOCIArchive writes the image as a tar of an OCI image layout
// (oci-layout, index.json, blobs/sha256/...). The index entry carries the
// annotations containerd and Docker ≥ 25 read on load:
// io.containerd.image.name (full normalized name) and
// org.opencontainers.image.ref.name (the tag).
func WriteOCIArchive(t testing.TB, path, tag string, opts ...Option) {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(tag)
	assert.NilError(t, err)
	named = reference.TagNameOnly(named)
	tagged, ok := named.(reference.Tagged)
	assert.Assert(t, ok, "tag %q", tag)

	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	assert.NilError(t, err)
	assert.NilError(t, lp.AppendImage(OCIImage(t, opts...), layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          named.String(),
		"org.opencontainers.image.ref.name": tagged.Tag(),
	})))
	assert.NilError(t, tarDir(dir, path))
}

func variant(t testing.TB, img v1.Image, opts []Option) v1.Image {
	t.Helper()
	out, err := applyOptions(img, opts)
	assert.NilError(t, err)
	return out
}

func applyOptions(img v1.Image, opts []Option) (v1.Image, error) {
	if len(opts) == 0 {
		return img, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	for _, o := range opts {
		o(cf)
	}
	return mutate.ConfigFile(img, cf)
}

func base(t testing.TB) built {
	t.Helper()
	once.Do(func() { cache = build() })
	if cache.err != nil {
		t.Fatalf("building busybox image: %v", cache.err)
	}
	return cache
}

// BinaryPath returns the static busybox used for the image.
func BinaryPath() string {
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	return "/bin/busybox"
}

func build() built {
	bin := BinaryPath()
	if err := checkStatic(bin); err != nil {
		return built{err: fmt.Errorf("%w (install Debian's busybox-static: apt-get install -y busybox-static, or set %s)", err, EnvBinary)}
	}
	layerTar, err := layerBytes(bin)
	if err != nil {
		return built{err: err}
	}
	dockerImg, err := assemble(layerTar, types.DockerLayer, types.DockerManifestSchema2, types.DockerConfigJSON)
	if err != nil {
		return built{err: err}
	}
	ociImg, err := assemble(layerTar, types.OCILayer, types.OCIManifestSchema1, types.OCIConfigJSON)
	if err != nil {
		return built{err: err}
	}
	return built{docker: dockerImg, oci: ociImg}
}

func assemble(layerTar []byte, layerMT, manifestMT, configMT types.MediaType) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(layerMT), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, manifestMT)
	img = mutate.ConfigMediaType(img, configMT)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "hyperbox tests: ADD busybox-static /bin/busybox",
			Comment:   "built by tests/testutil/busybox",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{DefaultPath}
	return mutate.ConfigFile(img, cf)
}

func checkStatic(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("busybox binary %s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox binary %s is dynamically linked; the image needs a static one", bin)
		}
	}
	return nil
}

func applets(bin string) ([]string, error) {
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bin, err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == "busybox" || strings.Contains(l, "/") {
			continue
		}
		names = append(names, l)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s --list printed no applets", bin)
	}
	return names, nil
}

func layerBytes(bin string) ([]byte, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	names, err := applets(bin)
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(p string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, ModTime: created, Format: tar.FormatPAX})
	}
	file := func(p string, mode int64, content []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(content)), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(content)
		return err
	}

	dirs := []struct {
		path string
		mode int64
	}{
		{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"proc", 0o555}, {"root", 0o700},
		{"sys", 0o555}, {"tmp", 0o1777}, {"var", 0o755},
	}
	for _, d := range dirs {
		if err := dir(d.path, d.mode); err != nil {
			return nil, err
		}
	}
	if err := file("bin/busybox", 0o755, data); err != nil {
		return nil, err
	}
	for _, n := range names {
		hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: filepath.Join("bin", n), Linkname: "busybox", Mode: 0o777, ModTime: created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	if err := file("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := file("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir writes the regular files and directories under dir into a tar at dst,
// with paths relative to dir.
func tarDir(dir, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	walkErr := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime = created
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if walkErr != nil {
		out.Close()
		return walkErr
	}
	if err := tw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
