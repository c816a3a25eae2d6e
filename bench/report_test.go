package main

import (
	"testing"

	"gotest.tools/v3/assert"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          []float64
		median, p90 float64
	}{
		{name: "one", in: []float64{7}, median: 7, p90: 7},
		{name: "odd, unsorted", in: []float64{3, 1, 2}, median: 2, p90: 2.8},
		{name: "ten", in: []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, median: 5.5, p90: 9.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := summarize(tc.in)
			assert.Assert(t, s != nil)
			assert.Assert(t, abs(s.Median-tc.median) < 1e-9, "median %v", s.Median)
			assert.Assert(t, abs(s.P90-tc.p90) < 1e-9, "p90 %v", s.P90)
		})
	}
	assert.Assert(t, summarize(nil) == nil)
}

func TestPerContainer(t *testing.T) {
	t.Parallel()
	rs := []*result{
		{Scenario: "memory, idle (PSS)", Unit: "MiB", Hyperbox: summarize([]float64{60}), Reference: summarize([]float64{100})},
		{Scenario: "memory, 50 running (PSS)", Unit: "MiB", Hyperbox: summarize([]float64{460}), Reference: summarize([]float64{400})},
	}
	out := perContainer(rs)
	assert.Equal(t, len(out), 1)
	assert.Equal(t, out[0].Hyperbox.Median, 8.0)
	assert.Equal(t, out[0].Reference.Median, 6.0)
	assert.Assert(t, abs(out[0].Ratio-8.0/6.0) < 1e-9)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestCollector(t *testing.T) {
	t.Parallel()
	c := newCollector()
	c.add("hyperbox", []sample{{row: "b", unit: "ms", v: 2, phases: map[string]float64{"1-x": 1}}, {row: "a", unit: "MiB", v: 5}})
	c.add("reference", []sample{{row: "b", unit: "ms", v: 4, phases: map[string]float64{"1-x": 3}}})
	rs := c.results()
	assert.Equal(t, len(rs), 2)
	assert.Equal(t, rs[0].Scenario, "b") // first-seen order
	assert.Equal(t, rs[0].Ratio, 0.5)
	assert.Equal(t, rs[0].Phases["reference"]["1-x"].Median, 3.0)
	assert.Equal(t, rs[1].Unit, "MiB")
	assert.Assert(t, rs[1].Reference == nil && rs[1].Ratio == 0)
}
