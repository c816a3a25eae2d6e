package engine

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// runtimeError classifies OCI runtime failures at create/start the way
// dockerd reports them: a missing executable is a client error.
func runtimeError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "permission denied") && strings.Contains(msg, "exec"):
		return fmt.Errorf("failed to create task for container: %s: %w", msg, errdefs.ErrInvalidArgument)
	}
	return err
}
