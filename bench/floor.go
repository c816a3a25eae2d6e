package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// floorState is an OCI bundle of the busybox rootfs for `crun run`.
type floorState struct {
	dir    string // bundle: config.json, rootfs/
	state  string // crun --root
	seq    int
	crun   string
	config map[string]any
}

// setupFloor extracts the busybox layer into a bundle and writes a
// config.json from `crun spec` running /bin/true without a terminal, in
// crun's default namespaces (including a new, empty network namespace).
func setupFloor(fx *fixtures) func(ctx context.Context, _ *target) (any, error) {
	return func(ctx context.Context, _ *target) (any, error) {
		bin, err := exec.LookPath("crun")
		if err != nil {
			return nil, fmt.Errorf("crun not found: %w", err)
		}
		dir, err := os.MkdirTemp("", "hbx-bench-floor-")
		if err != nil {
			return nil, err
		}
		st := &floorState{dir: dir, state: filepath.Join(dir, "state"), crun: bin}
		if err := untar(fx.rootfsLayer, filepath.Join(dir, "rootfs")); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cmd := exec.CommandContext(ctx, bin, "spec")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("crun spec: %v: %s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err == nil {
			err = json.Unmarshal(b, &st.config)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		proc := st.config["process"].(map[string]any)
		proc["terminal"] = false
		proc["args"] = []string{"/bin/true"}
		b, _ = json.MarshalIndent(st.config, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return st, nil
	}
}

// runFloor times `crun run` (create, start, wait for exit, delete) of the
// bundle: the OCI runtime alone, no daemon, no containerd, no shim.
func runFloor(ctx context.Context, _ *target, s any) ([]sample, error) {
	st := s.(*floorState)
	return repeat(sz.reps, "floor: crun run busybox true (no daemon)", func() (sample, error) {
		st.seq++
		id := fmt.Sprintf("hbx-bench-floor-%d-%d", os.Getpid(), st.seq)
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, st.crun, "--root", st.state, "run", "--bundle", st.dir, id)
		out, err := cmd.CombinedOutput()
		v := since(t0)
		_ = exec.Command(st.crun, "--root", st.state, "delete", "-f", id).Run()
		if err != nil {
			return sample{}, fmt.Errorf("crun run: %v: %s", err, bytes.TrimSpace(out))
		}
		return sample{v: v}, nil
	})
}

func teardownFloor(_ context.Context, _ *target, s any) error {
	st := s.(*floorState)
	return os.RemoveAll(st.dir)
}

func untar(layer []byte, dst string) error {
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		if strings.Contains(name, "..") {
			continue
		}
		p := filepath.Join(dst, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)&0o7777|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := os.Link(filepath.Join(dst, filepath.Clean("/"+h.Linkname)), p); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o7777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
}
