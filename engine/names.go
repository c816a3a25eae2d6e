package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// validName is the container name syntax dockerd accepts.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// NameConflictError reports a container name taken by another container.
type NameConflictError struct {
	Name string
	ID   string
}

func (e *NameConflictError) Error() string {
	return fmt.Sprintf("container name %q is already in use by container %q", "/"+e.Name, e.ID)
}

// Unwrap makes the error a Conflict.
func (e *NameConflictError) Unwrap() error { return errdefs.ErrConflict }

var (
	nameLeft  = []string{"agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nifty", "proud", "quiet", "rapid", "serene", "sharp", "swift", "tidy", "vivid", "witty", "zesty"}
	nameRight = []string{"otter", "falcon", "badger", "heron", "lynx", "marten", "osprey", "panda", "quokka", "raven", "salmon", "tapir", "walrus", "yak", "zebra", "gecko", "ibis", "koala", "lemur", "newt", "orca", "puffin", "shrike", "wombat"}
)

// reserveName claims name for id (generating one when empty). Callers hold e.mu.
func (e *Engine) reserveName(name, id string) (string, error) {
	if name == "" {
		for i := 0; ; i++ {
			n := nameLeft[rand.IntN(len(nameLeft))] + "_" + nameRight[rand.IntN(len(nameRight))]
			if i > 10 {
				n = fmt.Sprintf("%s%d", n, rand.IntN(1000))
			}
			if _, taken := e.names[n]; !taken {
				e.names[n] = id
				return n, nil
			}
		}
	}
	if !validName.MatchString(name) {
		return "", fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	if name[0] == '/' {
		name = name[1:]
	}
	if other, taken := e.names[name]; taken {
		return "", &NameConflictError{Name: name, ID: other}
	}
	e.names[name] = id
	return name, nil
}

// Rename gives a container a new name.
func (e *Engine) Rename(ref, newName string) error {
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	e.mu.Lock()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer e.mu.Unlock()
	newName = strings.TrimPrefix(newName, "/")
	if newName == "" {
		return fmt.Errorf("Neither old nor new names may be empty: %w", errdefs.ErrInvalidArgument)
	}
	if newName == c.rec.Name {
		return fmt.Errorf("Renaming a container with the same name as its current name: %w", errdefs.ErrInvalidArgument)
	}
	// dockerd validates the name with its leading '/'.
	n, err := e.reserveName("/"+newName, c.rec.ID)
	if err != nil {
		var nc *NameConflictError
		if errors.As(err, &nc) {
			return err
		}
		return fmt.Errorf("Error when allocating new name: %w", err)
	}
	old := c.rec.Name
	delete(e.names, old)
	c.rec.Name = n
	if err := e.save(c); err != nil {
		return err
	}
	e.emit(&c.rec, "rename", map[string]string{"oldName": "/" + old})
	return nil
}
