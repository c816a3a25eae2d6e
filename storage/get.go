package storage

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

var (
	fullIDRe    = regexp.MustCompile(`^(sha256:)?[a-f0-9]{64}$`)
	hexPrefixRe = regexp.MustCompile(`^(sha256:)?[a-f0-9]{1,64}$`)
)

// Get finds an image by full normalized name ("docker.io/library/x:tag"),
// digest reference ("repo@sha256:…", matching the digest its name resolved
// to), full ID ("sha256:<64 hex>" or "<64 hex>") or unambiguous ID prefix,
// tried in Docker's order: full ID, name, prefix. Short names are
// normalized as Docker does. It returns errdefs.ErrNotFound otherwise
// (also for an ambiguous prefix).
func (s *Store) Get(ctx context.Context, nameOrID string) (Image, error) {
	c, err := s.scan(ctx)
	if err != nil {
		return Image{}, err
	}
	e, _, err := c.lookup(nameOrID)
	if err != nil {
		return Image{}, err
	}
	return s.image(ctx, e), nil
}

// match says how a lookup found its image.
type match struct {
	// byID is true when nameOrID was an ID or ID prefix.
	byID bool
	// names are the visible record names nameOrID designates when it was
	// a reference (one name, or for a digest reference every name of that
	// repository pointing at that digest).
	names []string
}

// normalizeRef returns the normalized, fully qualified form of a
// reference (":latest" added when neither tag nor digest is given).
func normalizeRef(s string) (reference.Named, error) {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, err
	}
	return reference.TagNameOnly(ref), nil
}

func (c *catalog) lookup(nameOrID string) (*entry, match, error) {
	if fullIDRe.MatchString(nameOrID) {
		id := digest.Digest("sha256:" + strings.TrimPrefix(nameOrID, "sha256:"))
		if e := c.byID[id]; e != nil {
			return e, match{byID: true}, nil
		}
		return nil, match{}, notFound(nameOrID)
	}
	if ref, err := normalizeRef(nameOrID); err == nil {
		if e := c.byName[ref.String()]; e != nil && refKind(ref.String()) != 0 {
			return e, match{names: []string{ref.String()}}, nil
		}
		if d, ok := ref.(reference.Digested); ok {
			if e, names := c.byRepoDigest(ref.Name(), d.Digest()); e != nil {
				return e, match{names: names}, nil
			}
		}
	}
	if hexPrefixRe.MatchString(nameOrID) {
		prefix := "sha256:" + strings.TrimPrefix(nameOrID, "sha256:")
		var found *entry
		for _, id := range c.order {
			if strings.HasPrefix(id.String(), prefix) {
				if found != nil {
					return nil, match{}, fmt.Errorf("image %q: ambiguous ID prefix: %w", nameOrID, errdefs.ErrNotFound)
				}
				found = c.byID[id]
			}
		}
		if found != nil {
			return found, match{byID: true}, nil
		}
	}
	return nil, match{}, notFound(nameOrID)
}

// byRepoDigest finds the image a name of repository repo resolved to dgst
// (its record target or platform manifest), with those names.
func (c *catalog) byRepoDigest(repo string, dgst digest.Digest) (*entry, []string) {
	for _, id := range c.order {
		e := c.byID[id]
		var names []string
		for _, r := range e.visible() {
			named, err := reference.ParseNormalizedNamed(r.Name)
			if err != nil || named.Name() != repo {
				continue
			}
			if r.Target.Digest == dgst || e.info.desc.Digest == dgst {
				names = append(names, r.Name)
			}
		}
		if len(names) > 0 {
			return e, names
		}
	}
	return nil, nil
}
