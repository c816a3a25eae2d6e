package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// pruner removes what matches the registered filters.
type pruner struct {
	cli            *client.Client
	requestTimeout time.Duration
	verbose        bool
	self           string // own container ID prefix, never removed
}

// resource is one kind of Docker object the reaper removes: list returns the
// IDs matching f, remove deletes one.
type resource struct {
	kind   string
	list   func(ctx context.Context, f client.Filters) ([]string, error)
	remove func(ctx context.Context, id string) error
}

// kinds returns the resources in removal order: containers first (they hold
// networks, volumes and images), images last.
func (p *pruner) kinds() []resource {
	return []resource{
		{
			kind: "container",
			list: func(ctx context.Context, f client.Filters) ([]string, error) {
				res, err := p.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
				var ids []string
				for _, c := range res.Items {
					if p.self != "" && strings.HasPrefix(c.ID, p.self) {
						continue
					}
					ids = append(ids, c.ID)
				}
				return ids, err
			},
			remove: func(ctx context.Context, id string) error {
				_, err := p.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
				return err
			},
		},
		{
			kind: "network",
			list: func(ctx context.Context, f client.Filters) ([]string, error) {
				res, err := p.cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
				var ids []string
				for _, n := range res.Items {
					ids = append(ids, n.ID)
				}
				return ids, err
			},
			remove: func(ctx context.Context, id string) error {
				_, err := p.cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
				return err
			},
		},
		{
			kind: "volume",
			list: func(ctx context.Context, f client.Filters) ([]string, error) {
				res, err := p.cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
				var ids []string
				for _, v := range res.Items {
					ids = append(ids, v.Name)
				}
				return ids, err
			},
			remove: func(ctx context.Context, id string) error {
				_, err := p.cli.VolumeRemove(ctx, id, client.VolumeRemoveOptions{Force: true})
				return err
			},
		},
		{
			kind: "image",
			list: func(ctx context.Context, f client.Filters) ([]string, error) {
				res, err := p.cli.ImageList(ctx, client.ImageListOptions{Filters: f})
				var ids []string
				for _, im := range res.Items {
					ids = append(ids, im.ID)
				}
				return ids, err
			},
			remove: func(ctx context.Context, id string) error {
				_, err := p.cli.ImageRemove(ctx, id, client.ImageRemoveOptions{Force: true, PruneChildren: true})
				return err
			},
		},
	}
}

// reap runs removal rounds until a round finds nothing left to remove and no
// error, at most rounds times, pausing delay between them. A removal that
// fails (a network still in use while its containers go, a daemon hiccup) is
// tried again in the next round.
func (p *pruner) reap(ctx context.Context, filters []client.Filters, rounds int, delay time.Duration) error {
	removed := map[string]int{}
	var last error
	for round := 1; round <= rounds; round++ {
		found, errs := p.round(ctx, filters, removed)
		last = errors.Join(errs...)
		if found == 0 && last == nil {
			log.Printf("removed %d containers, %d networks, %d volumes, %d images",
				removed["container"], removed["network"], removed["volume"], removed["image"])
			return nil
		}
		if last == nil {
			// Everything found was removed: check again at once.
			continue
		}
		if p.verbose {
			log.Printf("round %d/%d: %v", round, rounds, last)
		}
		select {
		case <-ctx.Done():
			return errors.Join(last, ctx.Err())
		case <-time.After(delay):
		}
	}
	if last == nil {
		return fmt.Errorf("matching objects still appearing after %d rounds", rounds)
	}
	return fmt.Errorf("after %d rounds: %w", rounds, last)
}

// round lists and removes every kind once for every filter. It returns how
// many matching objects it found (removed or not) and the errors it met;
// objects already gone count as removed.
func (p *pruner) round(ctx context.Context, filters []client.Filters, removed map[string]int) (int, []error) {
	found := 0
	var errs []error
	for _, r := range p.kinds() {
		seen := map[string]bool{}
		for _, f := range filters {
			ids, err := p.call(ctx, func(ctx context.Context) ([]string, error) { return r.list(ctx, f) })
			if err != nil {
				errs = append(errs, fmt.Errorf("list %ss: %w", r.kind, err))
				continue
			}
			for _, id := range ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				found++
				_, err := p.call(ctx, func(ctx context.Context) ([]string, error) { return nil, r.remove(ctx, id) })
				switch {
				case err == nil:
					removed[r.kind]++
					if p.verbose {
						log.Printf("removed %s %s", r.kind, id)
					}
				case cerrdefs.IsNotFound(err):
					// Gone meanwhile (e.g. an auto-removed container).
				default:
					errs = append(errs, fmt.Errorf("remove %s %s: %w", r.kind, id, err))
				}
			}
		}
	}
	return found, errs
}

// call runs fn with the per-request timeout.
func (p *pruner) call(ctx context.Context, fn func(context.Context) ([]string, error)) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.requestTimeout)
	defer cancel()
	return fn(ctx)
}
