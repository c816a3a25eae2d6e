package containers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/hyperbox/hyperbox/server/httputil"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/stream"
)

func (c *containerRouter) getContainersLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	opts := LogsOptions{
		Stdout:     httputil.BoolValue(r, "stdout"),
		Stderr:     httputil.BoolValue(r, "stderr"),
		Follow:     httputil.BoolValue(r, "follow"),
		Timestamps: httputil.BoolValue(r, "timestamps"),
		Details:    httputil.BoolValue(r, "details"),
		Tail:       r.Form.Get("tail"),
		Since:      r.Form.Get("since"),
		Until:      r.Form.Get("until"),
	}
	if !opts.Stdout && !opts.Stderr {
		return fmt.Errorf("Bad parameters: you must choose at least one stream: %w", errdefs.ErrInvalidArgument)
	}
	ls, err := c.b.ContainerLogs(ctx, vars["name"], opts)
	if err != nil {
		return err
	}
	ct := stream.MediaTypeMultiplexedStream
	if ls.Tty {
		ct = stream.MediaTypeRawStream
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// Without follow, lines are batched into chunks, not flushed one by
	// one: reading a large log is bound by the log, not by a chunk and a
	// flush per line. A follower gets each line flushed as it comes.
	var fw io.Writer
	if opts.Follow {
		fw = stream.NewFlushWriter(w)
	} else {
		bw := stream.NewBatchWriter(w, 10*time.Millisecond)
		defer bw.Close()
		fw = bw
	}
	var out, errw io.Writer = fw, fw
	if !ls.Tty {
		mux := stream.NewMuxer(fw)
		out, errw = mux.Writer(stream.Stdout), mux.Writer(stream.Stderr)
	}
	err = ls.Run(ctx, func(m LogMessage) error {
		dst := out
		if m.Stream == "stderr" {
			if !opts.Stderr {
				return nil
			}
			dst = errw
		} else if !opts.Stdout {
			return nil
		}
		line := m.Line
		if opts.Timestamps {
			line = append([]byte(m.Time.UTC().Format(time.RFC3339Nano)+" "), line...)
		}
		_, err := dst.Write(line)
		return err
	})
	if err != nil && ctx.Err() == nil {
		log.G(ctx).WithError(err).Debug("log stream ended with error")
	}
	return nil
}

// postContainersAttach hijacks the connection: 101 when the client asked
// for an upgrade, raw 200 otherwise; stdout/stderr multiplexed unless TTY.
func (c *containerRouter) postContainersAttach(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputil.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	tty, err := c.b.ContainerAttachTTY(ctx, name)
	if err != nil {
		return err
	}
	ct := stream.MediaTypeMultiplexedStream
	// API < 1.42 always said raw-stream (clients looked at Config.Tty).
	if tty || middleware.CompareVersions(httputil.VersionFromContext(ctx), "1.42") < 0 {
		ct = stream.MediaTypeRawStream
	}
	// The backend subscribes to the output first and then calls Ready,
	// which answers the client: a start that follows loses nothing.
	conn := stream.NewPending(w, r, ct)
	defer conn.Close()
	hctx, cancel := conn.Context(context.WithoutCancel(ctx))
	defer cancel()
	cfg := AttachConfig{
		Logs:       httputil.BoolValue(r, "logs"),
		Stream:     httputil.BoolValue(r, "stream"),
		DetachKeys: r.Form.Get("detachKeys"),
		Ready:      conn.Start,
	}
	if httputil.BoolValue(r, "stdin") {
		cfg.Stdin = conn
	}
	lw := &stream.LockedWriter{W: conn}
	if tty {
		if httputil.BoolValue(r, "stdout") || httputil.BoolValue(r, "stderr") {
			cfg.Stdout = lw
		}
	} else {
		mux := stream.NewMuxer(conn)
		if httputil.BoolValue(r, "stdout") {
			cfg.Stdout = mux.Writer(stream.Stdout)
		}
		if httputil.BoolValue(r, "stderr") {
			cfg.Stderr = mux.Writer(stream.Stderr)
		}
	}
	err = c.b.ContainerAttach(hctx, name, cfg)
	if err != nil && !conn.Started() {
		// Nothing was sent yet: a real HTTP error.
		return err
	}
	_ = conn.Start()
	if err != nil {
		// The stream has started: report in-band as dockerd does.
		if !tty {
			stream.NewMuxer(conn).Writer(stream.Stderr).Write([]byte(httputil.ErrorMessage(err) + "\n"))
		}
		log.G(ctx).WithError(err).Debug("attach ended with error")
	}
	return nil
}
