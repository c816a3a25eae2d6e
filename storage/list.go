package storage

import "context"

// List returns every image once per ID, in no particular order. Names
// merge all containerd records that resolve to the same config digest;
// dangling images are included with no Names. Records that are not images
// for this store (missing content, other artifacts) are left out.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	c, err := s.scan(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, s.image(ctx, c.byID[id]))
	}
	return out, nil
}
