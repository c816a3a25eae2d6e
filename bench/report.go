package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// stats summarises one scenario's samples on one daemon.
type stats struct {
	Samples []float64 `json:"samples"`
	Median  float64   `json:"median"`
	P90     float64   `json:"p90"`
	Min     float64   `json:"min"`
}

// result is one row of the table.
type result struct {
	Scenario  string  `json:"scenario"`
	Unit      string  `json:"unit"` // "ms" or "MiB"
	Hyperbox  *stats  `json:"hyperbox,omitempty"`
	Reference *stats  `json:"reference,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"` // median hyperbox / median reference
	Note      string  `json:"note,omitempty"`
	Error     string  `json:"error,omitempty"`
	// Phases holds per-phase samples (ms) for scenarios that time each API call.
	Phases map[string]map[string]*stats `json:"phases,omitempty"` // daemon label -> phase -> stats
}

// report is the JSON document -json writes.
type report struct {
	Date       time.Time         `json:"date"`
	Iterations int               `json:"iterations"`
	Smoke      bool              `json:"smoke"`
	Network    string            `json:"network"`
	Hosts      map[string]string `json:"hosts"`    // label -> DOCKER_HOST
	Versions   map[string]string `json:"versions"` // label -> product and version
	Kernel     string            `json:"kernel"`
	CPUs       int               `json:"cpus"`
	Results    []*result         `json:"results"`
}

func summarize(v []float64) *stats {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return &stats{Samples: v, Median: percentile(s, 50), P90: percentile(s, 90), Min: s[0]}
}

// percentile uses linear interpolation between closest ranks on sorted s.
func percentile(s []float64, p float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// printTable writes the results as an aligned text table and, for scenarios
// with phases, a per-phase table.
func printTable(w io.Writer, rs []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tunit\tHB median\tHB p90\tref median\tref p90\tHB/ref\t")
	for _, r := range rs {
		hbm, hbp, rfm, rfp, ratio := "-", "-", "-", "-", "-"
		if r.Hyperbox != nil {
			hbm, hbp = fmtNum(r.Hyperbox.Median), fmtNum(r.Hyperbox.P90)
		}
		if r.Reference != nil {
			rfm, rfp = fmtNum(r.Reference.Median), fmtNum(r.Reference.P90)
		}
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		name := r.Scenario
		if r.Error != "" {
			name += " (ERROR)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, r.Unit, hbm, hbp, rfm, rfp, ratio)
	}
	tw.Flush()
	for _, r := range rs {
		if len(r.Phases) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nphases of %s (median ms):\n", r.Scenario)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "phase\tHB\tref\tHB/ref\t")
		for _, ph := range phaseOrder(r.Phases) {
			hb, rf := r.Phases["hyperbox"][ph], r.Phases["reference"][ph]
			a, b, ratio := "-", "-", "-"
			if hb != nil {
				a = fmtNum(hb.Median)
			}
			if rf != nil {
				b = fmtNum(rf.Median)
			}
			if hb != nil && rf != nil && rf.Median > 0 {
				ratio = fmt.Sprintf("%.2f", hb.Median/rf.Median)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", ph, a, b, ratio)
		}
		tw.Flush()
	}
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "\n%s: %s\n", r.Scenario, r.Error)
		}
		if r.Note != "" {
			fmt.Fprintf(w, "note: %s: %s\n", r.Scenario, r.Note)
		}
	}
}

// phaseOrder lists phase names in the order the scenario recorded them
// (names carry a "N-" prefix for ordering).
func phaseOrder(p map[string]map[string]*stats) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range p {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
