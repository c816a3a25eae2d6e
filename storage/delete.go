package storage

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DeleteOptions are the options of Delete.
type DeleteOptions struct {
	// Force removes all names of an image deleted by ID even across
	// repositories, and the last name of an image containers use.
	Force bool
	// NoPrune is accepted for API compatibility; with containerd there are
	// no untagged parent images to keep.
	NoPrune bool
	// InUse says whether containers use the image with this ID.
	InUse func(id digest.Digest) bool
}

// Delete removes an image name or an image, with Docker's semantics:
//   - by name: the name is untagged (with the digest references of that
//     repository once no tag of it is left); when no name remains and no
//     container uses the image, the image is deleted. Removing the last name
//     of an image in use needs Force and leaves the image dangling.
//   - by ID: all names are untagged and the image deleted. Names in several
//     repositories need Force; an image in use needs Force and is then only
//     untagged (kept dangling).
//
// Content and snapshots nothing else references are reclaimed by
// containerd's garbage collection before Delete returns. Errors:
// ErrNotFound, ErrConflict (Force needed).
func (s *Store) Delete(ctx context.Context, nameOrID string, opts DeleteOptions) ([]DeleteResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	e, m, err := c.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	id := e.id()
	inUse := opts.InUse != nil && opts.InUse(id)
	untag := visibleNames(e)
	if !m.byID {
		untag = e.namesToUntag(m.names)
		if len(untag) < len(e.visible()) {
			return untagged(untag), s.removeRecords(ctx, untag, false)
		}
		if inUse && !opts.Force {
			return nil, fmt.Errorf("unable to remove repository reference %q (must force) - container is using its referenced image %s: %w",
				nameOrID, shortID(id), errdefs.ErrConflict)
		}
	} else {
		if len(untag) > 1 && !opts.Force && !singleRepository(untag) {
			return nil, fmt.Errorf("unable to delete %s (must be forced) - image is referenced in multiple repositories: %w",
				shortID(id), errdefs.ErrConflict)
		}
		if inUse && !opts.Force {
			return nil, fmt.Errorf("unable to delete %s (must be forced) - image is being used by a container: %w",
				shortID(id), errdefs.ErrConflict)
		}
	}
	if inUse {
		if err := s.keepDangling(ctx, e, untag...); err != nil {
			return nil, err
		}
		return untagged(untag), s.removeRecords(ctx, untag, false)
	}
	res := untagged(untag)
	var all []string
	for _, r := range e.records {
		all = append(all, r.Name)
	}
	if err := s.removeRecords(ctx, all, true); err != nil {
		return res, err
	}
	s.forget(e)
	return append(res, DeleteResult{Deleted: id}), nil
}

func visibleNames(e *entry) []string {
	var names []string
	for _, r := range e.visible() {
		names = append(names, r.Name)
	}
	return names
}

// namesToUntag extends the names a reference designates with the digest
// references of the same repository when no tag of it would be left, as
// dockerd does ("Untagged: repo@sha256:…" after the last "repo:tag").
func (e *entry) namesToUntag(names []string) []string {
	out := slices.Clone(names)
	repos := map[string]bool{}
	for _, n := range names {
		if r, err := reference.ParseNormalizedNamed(n); err == nil {
			repos[r.Name()] = true
		}
	}
	for repo := range repos {
		tagLeft := false
		for _, t := range e.tags {
			if r, _ := reference.ParseNormalizedNamed(t); r != nil && r.Name() == repo && !slices.Contains(names, t) {
				tagLeft = true
			}
		}
		if tagLeft {
			continue
		}
		for _, d := range e.digestRefs {
			if r, _ := reference.ParseNormalizedNamed(d); r != nil && r.Name() == repo && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// singleRepository says whether deleting all names by ID needs no force.
func singleRepository(names []string) bool {
	// As dockerd: at most one tag, and digest references only of the same
	// repository; two tags (even of one repository) need force.
	repo, tags := "", 0
	for _, n := range names {
		r, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			return false
		}
		if _, ok := r.(reference.Canonical); !ok {
			tags++
		}
		if repo != "" && r.Name() != repo {
			return false
		}
		repo = r.Name()
	}
	return tags <= 1
}

func untagged(names []string) []DeleteResult {
	out := make([]DeleteResult, 0, len(names)+1)
	for _, n := range names {
		out = append(out, DeleteResult{Untagged: n})
	}
	return out
}
