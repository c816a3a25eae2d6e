// Package metrics serves the daemon's metrics in the Prometheus text
// exposition format (version 0.0.4) on their own TCP address, as dockerd's
// --metrics-addr does.
package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/log"
)

// Sample is one value of a metric.
type Sample struct {
	// Name is the metric name, e.g. "hyperbox_prewarm_hits_total".
	Name string
	// Help and Type ("counter", "gauge") describe the metric; samples of
	// one name share them.
	Help, Type string
	Labels     map[string]string
	Value      float64
}

// Backend collects the current samples. It must not block for long.
type Backend interface {
	Metrics(ctx context.Context) []Sample
}

// Handler serves GET /metrics.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		Write(bw, b.Metrics(r.Context()))
		_ = bw.Flush()
	})
	return mux
}

// Write renders samples in the text exposition format, grouped by name.
func Write(w *bufio.Writer, samples []Sample) {
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Name < samples[j].Name })
	last := ""
	for _, s := range samples {
		if s.Name != last {
			if s.Help != "" {
				fmt.Fprintf(w, "# HELP %s %s\n", s.Name, strings.ReplaceAll(s.Help, "\n", " "))
			}
			if s.Type != "" {
				fmt.Fprintf(w, "# TYPE %s %s\n", s.Name, s.Type)
			}
			last = s.Name
		}
		w.WriteString(s.Name)
		if len(s.Labels) > 0 {
			keys := make([]string, 0, len(s.Labels))
			for k := range s.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			w.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					w.WriteByte(',')
				}
				fmt.Fprintf(w, "%s=%s", k, strconv.Quote(s.Labels[k]))
			}
			w.WriteByte('}')
		}
		fmt.Fprintf(w, " %s\n", strconv.FormatFloat(s.Value, 'g', -1, 64))
	}
}

// Serve listens on addr ("host:port") and serves /metrics until ctx
// ends. It returns once listening (or failing to).
func Serve(ctx context.Context, addr string, b Backend) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.G(ctx).WithError(err).Error("metrics server")
		}
	}()
	log.G(ctx).WithField("addr", ln.Addr().String()).Info("serving metrics at /metrics")
	return nil
}
