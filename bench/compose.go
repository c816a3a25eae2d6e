package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// composeFile is a 3-service project whose services exit on SIGTERM, so
// `down` measures the daemon, not the 10 s stop timeout.
const composeFile = `services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  worker:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
  cache:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`

func setupCompose(_ context.Context, t *target) (any, error) {
	if _, err := os.Stat(filepath.Join(t.cliDir, "cli-plugins", "docker-compose")); err != nil {
		return nil, errors.New("docker compose plugin missing: run `make compose`")
	}
	dir, err := os.MkdirTemp("", "hbx-bench-compose-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(composeFile), 0o644); err != nil {
		return nil, err
	}
	return dir, nil
}

func docker(ctx context.Context, t *target, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, cliPath(), args...)
	cmd.Env, cmd.Dir = t.cliEnv, dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func runCompose(ctx context.Context, t *target, st any) ([]sample, error) {
	dir := st.(string)
	up, err := timed(func() error { return docker(ctx, t, dir, "compose", "-p", "hbxbench", "up", "-d", "--quiet-pull") })
	if err != nil {
		_ = docker(ctx, t, dir, "compose", "-p", "hbxbench", "down", "-t", "1")
		return nil, err
	}
	down, err := timed(func() error { return docker(ctx, t, dir, "compose", "-p", "hbxbench", "down") })
	if err != nil {
		return nil, err
	}
	up.row, up.unit = "compose up -d (3 services)", "ms"
	down.row, down.unit = "compose down (3 services)", "ms"
	return []sample{up, down}, nil
}

func teardownCompose(ctx context.Context, t *target, st any) error {
	dir := st.(string)
	_ = docker(ctx, t, dir, "compose", "-p", "hbxbench", "down", "-t", "1")
	return os.RemoveAll(dir)
}
