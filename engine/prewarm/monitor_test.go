package prewarm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	"gotest.tools/v3/poll"
)

func TestMonitorHysteresis(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mem, cpu := filepath.Join(dir, "memory"), filepath.Join(dir, "cpu")
	writePSI(t, mem, "0.00")
	writePSI(t, cpu, "0.00")
	var changes []bool
	m := NewMonitor(MonitorConfig{
		Sources:   []Source{{Name: "system/memory", Resource: "memory", Path: mem}, {Name: "system/cpu", Resource: "cpu", Path: cpu}},
		HighAvg10: 20, LowAvg10: 10, Calm: 10 * time.Second,
		OnChange: func(high bool) { changes = append(changes, high) },
	})
	assert.Equal(t, m.Mode(), ModePolling)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name  string
		at    time.Duration
		mem   string
		cpu   string
		fired bool
		high  bool
	}{
		{name: "calm", at: 0, mem: "1.00", cpu: "0.00", high: false},
		{name: "cpu pressure alone does not stop prewarming", at: time.Second, mem: "1.00", cpu: "90.00", high: false},
		{name: "memory over high", at: 2 * time.Second, mem: "25.00", cpu: "0.00", high: true},
		{name: "between low and high stays high", at: 20 * time.Second, mem: "15.00", high: true},
		{name: "below low, not yet calm long enough", at: 25 * time.Second, mem: "5.00", high: true},
		{name: "calm for 10 s", at: 30 * time.Second, mem: "5.00", high: false},
		{name: "a trigger alone is enough", at: 31 * time.Second, mem: "0.00", fired: true, high: true},
		{name: "calm after the trigger", at: 41 * time.Second, mem: "0.00", high: false},
	}
	for _, s := range steps {
		writePSI(t, mem, s.mem)
		if s.cpu != "" {
			writePSI(t, cpu, s.cpu)
		}
		fired := ""
		if s.fired {
			fired = "system/memory"
		}
		m.sample(t0.Add(s.at), fired)
		assert.Equal(t, m.High(), s.high, s.name)
	}
	assert.DeepEqual(t, changes, []bool{true, false, true, false})
	assert.Equal(t, len(m.Readings()), 2)
}

func TestMonitorUnavailable(t *testing.T) {
	t.Parallel()
	m := NewMonitor(MonitorConfig{})
	assert.Equal(t, m.Mode(), ModeUnavailable)
	m.Run(context.Background()) // returns at once
	assert.Equal(t, m.High(), false)
}

// TestMonitorRealTriggers registers real PSI triggers on this machine.
func TestMonitorRealTriggers(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/memory"); err != nil {
		t.Skip("kernel without PSI (/proc/pressure/memory missing)")
	}
	if os.Geteuid() != 0 {
		t.Skip("PSI triggers with a 1 s window need root")
	}
	srcs := FindSources("/proc", "/sys/fs/cgroup")
	m := NewMonitor(MonitorConfig{Sources: srcs, Interval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if len(m.Readings()) == 0 {
			return poll.Continue("no reading yet")
		}
		return poll.Success()
	}, poll.WithTimeout(5*time.Second))
	assert.Equal(t, m.Mode(), ModeTriggers)
	cancel()
	<-done
}
