package compat

import (
	"context"
	"fmt"
	"strings"

	"github.com/hyperbox/hyperbox/engine"
	"github.com/hyperbox/hyperbox/engine/prewarm"
	"github.com/hyperbox/hyperbox/server/metrics"
)

// prewarmInfo renders the snapshot pool's state for GET /info. The pool
// holds prepared root filesystem snapshots, so its rows go in
// DriverStatus (docker info prints them under "Storage Driver", clients
// do not parse them); Labels are the user's --label values and stay
// untouched. The no-PSI fallback is a warning, as dockerd reports missing
// kernel features (docker info prints them as "WARNING: ...").
func prewarmInfo(st engine.PrewarmStats) (rows [][2]string, warnings []string) {
	if !st.Enabled {
		return [][2]string{{"Prewarm", "off"}}, nil
	}
	state := "on (PSI " + string(st.PSI) + ")"
	switch {
	case st.PSI == prewarm.ModeUnavailable:
		state = "on (fixed pool: no PSI)"
		warnings = append(warnings, "WARNING: no pressure stall information (PSI) on this kernel; prewarming uses fixed pools of 2 snapshots and 2 network namespaces")
	case st.High:
		state = "paused (memory/io pressure; PSI " + string(st.PSI) + ")"
	}
	rows = [][2]string{
		{"Prewarm", state},
		{"Prewarm Pool", fmt.Sprintf("%d snapshots for %d images; %d hits, %d misses, %d released", st.Total, len(st.Entries), st.Hits, st.Misses, st.Releases)},
		{"Prewarm Network Pool", fmt.Sprintf("%d namespaces for %d networks; %d hits, %d misses, %d released", st.Netns.Total, len(st.Netns.Entries), st.Netns.Hits, st.Netns.Misses, st.Netns.Releases)},
	}
	return rows, warnings
}

// Metrics collects the daemon's metrics for --metrics-addr.
func (d *Daemon) Metrics(ctx context.Context) []metrics.Sample {
	st := d.engine.PrewarmStats()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	out := []metrics.Sample{
		{Name: "hyperbox_prewarm_enabled", Type: "gauge", Help: "Whether the snapshot pool is on.", Value: b2f(st.Enabled)},
		{Name: "hyperbox_prewarm_paused", Type: "gauge", Help: "Whether memory or io pressure holds the pool empty.", Value: b2f(st.High)},
		{Name: "hyperbox_prewarm_psi_available", Type: "gauge", Help: "Whether pressure stall information is read.", Value: b2f(st.PSI != prewarm.ModeUnavailable)},
		{Name: "hyperbox_prewarm_hits_total", Type: "counter", Help: "Creates that took a prewarmed snapshot.", Value: float64(st.Hits)},
		{Name: "hyperbox_prewarm_misses_total", Type: "counter", Help: "Creates that found no prewarmed snapshot.", Value: float64(st.Misses)},
		{Name: "hyperbox_prewarm_releases_total", Type: "counter", Help: "Prewarmed snapshots discarded unused.", Value: float64(st.Releases)},
		{Name: "hyperbox_prewarm_prepared_total", Type: "counter", Help: "Snapshots prepared for the pool.", Value: float64(st.Prepared)},
		{Name: "hyperbox_prewarm_failures_total", Type: "counter", Help: "Failed pool preparations.", Value: float64(st.Failures)},
		{Name: "hyperbox_prewarm_pool_entries", Type: "gauge", Help: "Prewarmed snapshots ready now.", Value: float64(st.Total)},
		{Name: "hyperbox_prewarm_netns_hits_total", Type: "counter", Help: "Starts that took a network namespace already wired to their network.", Value: float64(st.Netns.Hits)},
		{Name: "hyperbox_prewarm_netns_misses_total", Type: "counter", Help: "Starts that found no wired network namespace.", Value: float64(st.Netns.Misses)},
		{Name: "hyperbox_prewarm_netns_releases_total", Type: "counter", Help: "Wired network namespaces discarded unused.", Value: float64(st.Netns.Releases)},
		{Name: "hyperbox_prewarm_netns_prepared_total", Type: "counter", Help: "Network namespaces wired for the pool.", Value: float64(st.Netns.Prepared)},
		{Name: "hyperbox_prewarm_netns_pool_entries", Type: "gauge", Help: "Wired network namespaces ready now.", Value: float64(st.Netns.Total)},
	}
	for _, r := range st.Readings {
		scope, _, _ := strings.Cut(r.Name, "/")
		for _, kind := range []struct {
			name string
			s    prewarm.Stat
		}{{"some", r.Some}, {"full", r.Full}} {
			for _, v := range []struct {
				win string
				val float64
			}{{"avg10", kind.s.Avg10}, {"avg60", kind.s.Avg60}, {"avg300", kind.s.Avg300}} {
				out = append(out, metrics.Sample{
					Name:   fmt.Sprintf("hyperbox_psi_%s_%s_%s", r.Resource, kind.name, v.win),
					Type:   "gauge",
					Help:   fmt.Sprintf("Share of time (percent) %s tasks stalled on %s, %s average.", kind.name, r.Resource, v.win),
					Labels: map[string]string{"scope": scope},
					Value:  v.val,
				})
			}
			out = append(out, metrics.Sample{
				Name:   fmt.Sprintf("hyperbox_psi_%s_%s_stall_seconds_total", r.Resource, kind.name),
				Type:   "counter",
				Help:   fmt.Sprintf("Total time %s tasks stalled on %s.", kind.name, r.Resource),
				Labels: map[string]string{"scope": scope},
				Value:  float64(kind.s.Total) / 1e6,
			})
		}
	}
	return out
}
