package compat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/hyperbox/hyperbox/engine"
)

// Docker's exact wording for the errors clients parse or show. Every
// function here keeps the error class of err (or sets the one dockerd uses).

// containerError words an engine error about container ref.
func containerError(ref string, err error) error {
	if err == nil {
		return nil
	}
	var nc *engine.NameConflictError
	if errors.As(err, &nc) {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
			"Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.",
			"/"+nc.Name, nc.ID))
	}
	var re *engine.RunningError
	if errors.As(err, &re) {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
			"cannot remove container %q: container is %s: stop the container before removing or force remove", "/"+ref, re.Status))
	}
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	}
	return err
}

// imageNotFound is dockerd's 404 for an image reference.
func imageNotFound(ref string) error {
	return errdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

// invalid is a 400 with msg.
func invalid(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// notImplemented refuses a Docker field hyperbox does not support yet,
// naming the field (never silently ignored).
func notImplemented(field string) error {
	return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("%s is not supported by hyperboxd yet", field))
}

// wrapMessage prefixes an error's client-facing text, keeping its class.
func wrapMessage(err error, prefix string) error {
	msg := strings.TrimSuffix(err.Error(), ": "+classOf(err).Error())
	return classOf(err).WithMessage(prefix + msg)
}

// classed is an errdefs sentinel that can carry a message.
type classed interface {
	error
	WithMessage(string) error
}

// classOf returns the errdefs class of err (Unknown when it has none).
func classOf(err error) classed {
	switch {
	case errdefs.IsNotFound(err):
		return errdefs.ErrNotFound
	case errdefs.IsInvalidArgument(err):
		return errdefs.ErrInvalidArgument
	case errdefs.IsConflict(err):
		return errdefs.ErrConflict
	case errdefs.IsNotModified(err):
		return errdefs.ErrNotModified
	case errdefs.IsUnauthorized(err):
		return errdefs.ErrUnauthenticated
	case errdefs.IsPermissionDenied(err):
		return errdefs.ErrPermissionDenied
	case errdefs.IsNotImplemented(err):
		return errdefs.ErrNotImplemented
	case errdefs.IsUnavailable(err):
		return errdefs.ErrUnavailable
	}
	return errdefs.ErrUnknown
}
