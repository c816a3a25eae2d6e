package main

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

func rmImage(ref string) func(ctx context.Context, t *target) (any, error) {
	return func(ctx context.Context, t *target) (any, error) {
		_, _ = t.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		return nil, nil
	}
}

// readStream reads a JSON message stream (load, pull) to its end and fails
// on an error message in it.
func readStream(res io.ReadCloser) ([]byte, error) {
	body, err := io.ReadAll(res)
	res.Close()
	if err != nil {
		return nil, err
	}
	return body, streamError(body)
}

// streamError returns the first error a JSON message stream (load, pull) reports in-band.
func streamError(body []byte) error {
	if i := bytes.Index(body, []byte(`"errorDetail"`)); i >= 0 {
		return fmt.Errorf("daemon: %s", bytes.TrimSpace(body[max(0, i-200):min(len(body), i+300)]))
	}
	return nil
}

func runLoad(archive, tag, row string) func(ctx context.Context, t *target, _ any) ([]sample, error) {
	return func(ctx context.Context, t *target, _ any) ([]sample, error) {
		s, err := timed(func() error { return loadArchive(ctx, t, archive, tag) })
		if err != nil {
			return nil, err
		}
		if _, err := t.c.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			return nil, fmt.Errorf("removing %s: %w", tag, err)
		}
		s.row, s.unit = row, "ms"
		return []sample{s}, nil
	}
}

func runPull(fx *fixtures) func(ctx context.Context, t *target, _ any) ([]sample, error) {
	return func(ctx context.Context, t *target, _ any) ([]sample, error) {
		s, err := timed(func() error {
			res, err := t.c.ImagePull(ctx, fx.pullRef, client.ImagePullOptions{})
			if err != nil {
				return err
			}
			_, err = readStream(res)
			return err
		})
		if err != nil {
			return nil, err
		}
		if _, err := t.c.ImageRemove(ctx, fx.pullRef, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			return nil, fmt.Errorf("removing %s: %w", fx.pullRef, err)
		}
		s.row, s.unit = fmt.Sprintf("pull %d MB image (local registry)", fx.bigMB), "ms"
		return []sample{s}, nil
	}
}
