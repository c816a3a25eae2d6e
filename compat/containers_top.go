package compat

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
)

// ContainerTop answers GET /containers/{id}/top: the host's ps with
// ps_args (default "-ef"), cut down to the container's processes.
func (d *Daemon) ContainerTop(ctx context.Context, ref, psArgs string) (*container.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	args := strings.Fields(psArgs)
	if err := checkPSArgs(args); err != nil {
		return nil, err
	}
	res, err := d.engine.Top(ctx, ref, args)
	if err != nil {
		// ps failures stay unclassified: dockerd answers them with a 500
		// whose message is "ps: " and ps's first line of stderr.
		return nil, containerError(ref, err)
	}
	return &container.TopResponse{Titles: res.Titles, Processes: res.Processes}, nil
}

// checkPSArgs refuses to rename a column to PID ("-o user=PID"): the PID
// column finds the container's rows. dockerd words it so, as a 500.
func checkPSArgs(args []string) error {
	for i, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			continue
		}
		if v == "" && i+1 < len(args) { // "-o user= PID"
			v = args[i+1]
		}
		if strings.HasPrefix(v, "PID") && k != "pid" {
			return fmt.Errorf("specifying %q is not allowed", k+"="+v)
		}
	}
	return nil
}
