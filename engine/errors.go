package engine

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// crunNotFound is crun's wording for a missing executable.
var crunNotFound = regexp.MustCompile("executable file `([^`]*)` not found in \\$PATH")

// runtimeError classifies OCI runtime failures at create/start the way
// dockerd reports them: a missing executable is a client error, worded as
// runc words it ("exec: \"x\": executable file not found in $PATH"), which
// is what the docker CLI looks for to exit 127 (126 for permission denied).
func runtimeError(err error) error {
	msg := runtimeMessage(err)
	switch {
	case strings.Contains(msg, "executable file not found"),
		strings.Contains(msg, "no such file or directory"), strings.Contains(msg, "No such file or directory"),
		strings.Contains(msg, "permission denied"), strings.Contains(msg, "Permission denied"):
		return fmt.Errorf("failed to create task for container: %s: %w", msg, errdefs.ErrInvalidArgument)
	}
	return err
}

// runtimeMessage is the runtime's error text with crun's wording of a
// missing executable rewritten to runc's.
func runtimeMessage(err error) string {
	return crunNotFound.ReplaceAllString(err.Error(), `exec: "$1": executable file not found in $$PATH`)
}
