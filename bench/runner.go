package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// scenarioTimeout bounds one scenario on all daemons together.
const scenarioTimeout = 15 * time.Minute

// runScenario runs s on every target: setup each, then n iterations
// interleaved across targets (A/B/A/B), then teardown each. A failure stops
// the scenario on that target only and is reported on its rows.
func runScenario(ctx context.Context, s *scenario, targets []*target, n int) []*result {
	logf("scenario %s", s.name)
	ctx, cancel := context.WithTimeout(ctx, scenarioTimeout)
	defer cancel()
	runOn := targets
	if s.refFree {
		runOn = targets[:1] // no daemon is involved: run once
	}
	col := newCollector()
	errs := map[string]error{}
	states := map[*target]any{}
	for _, t := range runOn {
		if s.setup == nil {
			continue
		}
		st, err := s.setup(ctx, t)
		if st != nil {
			// A setup that failed half-way hands over what it made, for teardown.
			states[t] = st
		}
		if err != nil {
			errs[t.label] = fmt.Errorf("setup: %w", err)
		}
	}
	for i := 0; i < n; i++ {
		for _, t := range runOn {
			if errs[t.label] != nil {
				continue
			}
			ss, err := s.run(ctx, t, states[t])
			if err != nil {
				errs[t.label] = fmt.Errorf("iteration %d: %w", i+1, err)
				continue
			}
			label := t.label
			if s.refFree {
				label = "hyperbox" // the floor has one column
			}
			col.add(label, ss)
		}
	}
	for t, st := range states {
		if s.teardown == nil {
			continue
		}
		if err := s.teardown(ctx, t, st); err != nil && errs[t.label] == nil {
			errs[t.label] = fmt.Errorf("teardown: %w", err)
		}
	}
	out := col.results()
	if s.refFree {
		for _, r := range out {
			r.Note = "no daemon: the OCI runtime alone, the floor for run --rm"
		}
	}
	return markErrors(s.name, runOn, errs, out)
}

// markErrors logs the per-daemon errors and puts them on every row of the
// scenario (or on one row named after it when it produced none).
func markErrors(name string, runOn []*target, errs map[string]error, out []*result) []*result {
	if len(errs) == 0 {
		return out
	}
	var msgs []string
	for _, t := range runOn {
		if err := errs[t.label]; err != nil {
			logf("scenario %s on %s: %v", name, t.label, err)
			msgs = append(msgs, t.label+": "+err.Error())
		}
	}
	if len(out) == 0 {
		out = append(out, &result{Scenario: name, Unit: "-"})
	}
	for _, r := range out {
		r.Error = strings.Join(msgs, "; ")
	}
	return out
}

// collector gathers samples by row, daemon label and phase, keeping the
// rows in the order they first appear.
type collector struct {
	rows    []string
	units   map[string]string
	samples map[string]map[string][]float64            // row -> label -> values
	phases  map[string]map[string]map[string][]float64 // row -> label -> phase -> values
}

func newCollector() *collector {
	return &collector{units: map[string]string{}, samples: map[string]map[string][]float64{},
		phases: map[string]map[string]map[string][]float64{}}
}

func (c *collector) add(label string, ss []sample) {
	for _, x := range ss {
		if _, ok := c.units[x.row]; !ok {
			c.rows = append(c.rows, x.row)
			c.units[x.row] = x.unit
			c.samples[x.row] = map[string][]float64{}
			c.phases[x.row] = map[string]map[string][]float64{}
		}
		c.samples[x.row][label] = append(c.samples[x.row][label], x.v)
		if len(x.phases) > 0 && c.phases[x.row][label] == nil {
			c.phases[x.row][label] = map[string][]float64{}
		}
		for ph, v := range x.phases {
			c.phases[x.row][label][ph] = append(c.phases[x.row][label][ph], v)
		}
	}
}

// results summarises every row; the ratio is median hyperbox / median reference.
func (c *collector) results() []*result {
	var out []*result
	for _, row := range c.rows {
		r := &result{Scenario: row, Unit: c.units[row],
			Hyperbox: summarize(c.samples[row]["hyperbox"]), Reference: summarize(c.samples[row]["reference"])}
		if r.Hyperbox != nil && r.Reference != nil && r.Reference.Median > 0 {
			r.Ratio = r.Hyperbox.Median / r.Reference.Median
		}
		for label, m := range c.phases[row] {
			if r.Phases == nil {
				r.Phases = map[string]map[string]*stats{}
			}
			r.Phases[label] = map[string]*stats{}
			for ph, v := range m {
				r.Phases[label][ph] = summarize(v)
			}
		}
		out = append(out, r)
	}
	return out
}
