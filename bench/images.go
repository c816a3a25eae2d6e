package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/registry"
)

// Image tags the benchmark uses.
const (
	busyboxTag = "busybox:latest"
	smallTag   = "hbx-bench/small:latest"
	bigTag     = "hbx-bench/big:latest"
)

// fixtures are the images and the registry the scenarios share, built once.
type fixtures struct {
	dir         string // temp dir holding the archives
	busyboxTar  string // docker archive of busybox:latest
	smallTar    string // docker archive of smallTag: one random layer of a few MB
	bigTar      string // docker archive of bigTag: busybox plus one random layer of bigMB
	bigMB       int
	regHost     string // "localhost:PORT" of the in-process registry
	pullRef     string // regHost + "/hbx-bench/big:latest"
	cleanups    []func()
	rootfsLayer []byte // the busybox layer, uncompressed, for the crun floor
}

// buildFixtures writes the archives under a temp dir, starts the in-process
// registry and pushes the big image to it.
func buildFixtures(bigMB, smallMB int) (*fixtures, error) {
	dir, err := os.MkdirTemp("", "hbx-bench-img-")
	if err != nil {
		return nil, err
	}
	f := &fixtures{dir: dir, bigMB: bigMB,
		busyboxTar: filepath.Join(dir, "busybox.tar"),
		smallTar:   filepath.Join(dir, "small.tar"),
		bigTar:     filepath.Join(dir, "big.tar"),
	}
	err = withTB(&f.cleanups, func(t testing.TB) {
		bb := busybox.Image(t)
		if err := writeArchive(f.busyboxTar, busyboxTag, bb); err != nil {
			t.Fatal(err)
		}
		layers, err := bb.Layers()
		if err != nil || len(layers) == 0 {
			t.Fatalf("busybox layers: %v", err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		f.rootfsLayer, err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}

		// The small image shares nothing with busybox, so loading it is cold.
		small, err := randomLayer("small.bin", smallMB<<20, 1)
		if err != nil {
			t.Fatal(err)
		}
		smallImg, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.DockerManifestSchema2), small)
		if err != nil {
			t.Fatal(err)
		}
		smallImg, err = mutate.Config(smallImg, v1.Config{Cmd: []string{"/small.bin"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := writeArchive(f.smallTar, smallTag, smallImg); err != nil {
			t.Fatal(err)
		}

		big, err := randomLayer("big.bin", bigMB<<20, 2)
		if err != nil {
			t.Fatal(err)
		}
		bigImg, err := mutate.AppendLayers(bb, big)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeArchive(f.bigTar, bigTag, bigImg); err != nil {
			t.Fatal(err)
		}

		reg := registry.Start(t)
		f.regHost = reg.LocalhostHost()
		f.pullRef = f.regHost + "/" + strings.TrimSuffix(bigTag, ":latest") + ":latest"
		busybox.PushImage(t, bigImg, f.pullRef)
	})
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *fixtures) close() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
	_ = os.RemoveAll(f.dir)
}

func writeArchive(path, tag string, img v1.Image) error {
	tg, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tg, img)
}

// randomLayer returns a gzip layer holding one file of size bytes of
// pseudo-random (incompressible) data, compressed once and kept in memory.
func randomLayer(file string, size int, seed uint64) (v1.Layer, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, seed*7919))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= len(buf) {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		n := min(left, len(buf))
		if _, err := tw.Write(buf[:n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.DockerLayer))
}

// tb lets the benchmark use the test helpers (registry.Start,
// busybox.PushImage) that take a testing.TB: failures panic out to withTB,
// cleanups are collected for the caller. Methods it does not override are
// not called by those helpers (the embedded nil interface would panic).
type tb struct {
	testing.TB
	mu       sync.Mutex
	msgs     []string
	failed   bool
	cleanups *[]func()
}

type tbFailNow struct{}

func (t *tb) Helper()                 {}
func (t *tb) Name() string            { return "hbx-bench" }
func (t *tb) Cleanup(f func())        { t.mu.Lock(); *t.cleanups = append(*t.cleanups, f); t.mu.Unlock() }
func (t *tb) Log(a ...any)            { t.add(fmt.Sprint(a...)) }
func (t *tb) Logf(s string, a ...any) { t.add(fmt.Sprintf(s, a...)) }
func (t *tb) Error(a ...any)          { t.add(fmt.Sprint(a...)); t.Fail() }
func (t *tb) Errorf(s string, a ...any) {
	t.add(fmt.Sprintf(s, a...))
	t.Fail()
}
func (t *tb) Fatal(a ...any)            { t.Error(a...); t.FailNow() }
func (t *tb) Fatalf(s string, a ...any) { t.Errorf(s, a...); t.FailNow() }
func (t *tb) Fail()                     { t.mu.Lock(); t.failed = true; t.mu.Unlock() }
func (t *tb) FailNow()                  { t.Fail(); panic(tbFailNow{}) }
func (t *tb) Failed() bool              { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *tb) add(s string)              { t.mu.Lock(); t.msgs = append(t.msgs, s); t.mu.Unlock() }

// withTB runs fn with a tb and turns its failure into an error.
func withTB(cleanups *[]func(), fn func(testing.TB)) (err error) {
	t := &tb{cleanups: cleanups}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(tbFailNow); !ok {
				panic(r)
			}
		}
		if t.Failed() {
			err = fmt.Errorf("%s", strings.Join(t.msgs, "; "))
		}
	}()
	fn(t)
	return nil
}
