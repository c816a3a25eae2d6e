package compat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/server/routes/containers"
)

// parseTimestamp reads the API's time format: unix seconds with optional
// fractional nanoseconds ("1717171717.123456789"). Empty or "0" is unset.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		if t, err2 := time.Parse(time.RFC3339Nano, s); err2 == nil {
			return t, nil
		}
		return time.Time{}, invalid("invalid timestamp %q: expected unix seconds[.nanoseconds]", s)
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, invalid("invalid timestamp %q", s)
		}
	}
	return time.Unix(n, ns), nil
}

// parseTail reads ?tail=: "all", "" or a negative number mean all.
func parseTail(s string) int {
	if s == "" || s == "all" {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// ContainerLogs answers GET /containers/{id}/logs; validation happens here,
// before the stream starts.
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, opts containers.LogsOptions) (*containers.LogStream, error) {
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return nil, containerError(ref, err)
	}
	since, err := parseTimestamp(opts.Since)
	if err != nil {
		return nil, err
	}
	until, err := parseTimestamp(opts.Until)
	if err != nil {
		return nil, err
	}
	lo := engine.LogOptions{Tail: parseTail(opts.Tail), Since: since, Until: until, Follow: opts.Follow}
	return &containers.LogStream{
		Tty: c.Spec.Tty,
		Run: func(ctx context.Context, emit func(containers.LogMessage) error) error {
			return d.engine.Logs(ctx, c.ID, lo, func(e engine.LogEntry) error {
				return emit(containers.LogMessage{Stream: e.Stream, Time: e.Time, Line: []byte(e.Log)})
			})
		},
	}, nil
}

// ContainerAttachTTY validates an attach before the hijack.
func (d *Daemon) ContainerAttachTTY(ctx context.Context, ref string) (bool, error) {
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return false, containerError(ref, err)
	}
	return c.Spec.Tty, nil
}

// ContainerAttach answers the hijacked part of POST /containers/{id}/attach.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, cfg containers.AttachConfig) error {
	c, err := d.engine.Get(ctx, ref)
	if err != nil {
		return containerError(ref, err)
	}
	opts := engine.AttachOptions{Stdout: cfg.Stdout, Stderr: cfg.Stderr, Logs: cfg.Logs, Stream: cfg.Stream,
		DetachKeys: cfg.DetachKeys, Ready: cfg.Ready}
	// dockerd ignores stdin when the container was not created with
	// OpenStdin (compose always asks for it).
	if cfg.Stdin != nil && c.Spec.OpenStdin {
		opts.Stdin = cfg.Stdin
	}
	err = d.engine.Attach(ctx, c.ID, opts)
	if errors.Is(err, engine.ErrDetached) {
		// The client detached on purpose; the container keeps running.
		return nil
	}
	return containerError(ref, err)
}
