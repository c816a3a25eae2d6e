package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/reference"
)

// Tag names the image nameOrID (see Get) newRef, a reference with a tag.
// If newRef named another image, the name moves; an image losing its last
// name that way stays as a dangling image. Errors: ErrNotFound (no such
// image), ErrInvalidArgument (newRef is not a tag reference).
func (s *Store) Tag(ctx context.Context, nameOrID, newRef string) error {
	named, err := normalizeRef(newRef)
	if err != nil {
		return fmt.Errorf("tag %q: %w", newRef, invalidArgument(err))
	}
	if _, ok := named.(reference.Digested); ok {
		return fmt.Errorf("tag %q: %w", newRef, invalidArgument(errors.New("refusing to create a tag with a digest reference")))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.scan(ctx)
	if err != nil {
		return err
	}
	e, _, err := c.lookup(nameOrID)
	if err != nil {
		return err
	}
	_, err = s.retarget(ctx, named.String(), e.records[0].Target)
	return err
}
