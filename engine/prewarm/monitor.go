package prewarm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// Mode says how the monitor learns about pressure.
type Mode string

const (
	// ModeTriggers: PSI triggers (poll for POLLPRI) plus periodic reads.
	ModeTriggers Mode = "triggers"
	// ModePolling: periodic reads of avg10 only (triggers were refused).
	ModePolling Mode = "polling"
	// ModeUnavailable: the kernel has no PSI; nothing is measured.
	ModeUnavailable Mode = "unavailable"
)

// MonitorConfig configures a Monitor. Zero values take the defaults.
type MonitorConfig struct {
	Sources []Source
	// Interval between reads of the files (default 1 s).
	Interval time.Duration
	// TriggerStall and TriggerWindow form the PSI trigger "some <stall>
	// <window>" (default 300 ms in 1 s: 30 % of a second stalled; lower
	// values fire on the io of ordinary container starts).
	TriggerStall, TriggerWindow time.Duration
	// HighAvg10 is the some-avg10 (percent) at or above which a stopping
	// source counts as under pressure (default 40). LowAvg10 is the level
	// below which it counts as calm again (default half of HighAvg10).
	HighAvg10, LowAvg10 float64
	// Calm is how long no trigger may fire and every stopping source must
	// stay below LowAvg10 before pressure is low again (default 5 s).
	Calm time.Duration
	// OnChange is called (from the monitor's goroutine) when the pressure
	// state changes.
	OnChange func(high bool)
}

// Reading is the last value read from one source.
type Reading struct {
	Source
	Pressure
}

// Monitor watches PSI files and reports pressure as high or low, with
// hysteresis: high at once on a trigger or a high avg10, low only after a
// calm period.
type Monitor struct {
	cfg      MonitorConfig
	events   chan string
	mu       sync.Mutex
	mode     Mode
	high     bool
	last     time.Time // last time a stopping source was over its limits
	readings []Reading
}

// NewMonitor builds a monitor; Run starts it.
func NewMonitor(cfg MonitorConfig) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.TriggerStall <= 0 {
		cfg.TriggerStall = 300 * time.Millisecond
	}
	if cfg.TriggerWindow <= 0 {
		cfg.TriggerWindow = time.Second
	}
	if cfg.HighAvg10 <= 0 {
		cfg.HighAvg10 = 40
	}
	if cfg.LowAvg10 <= 0 || cfg.LowAvg10 > cfg.HighAvg10 {
		cfg.LowAvg10 = cfg.HighAvg10 / 2
	}
	if cfg.Calm <= 0 {
		cfg.Calm = 5 * time.Second
	}
	m := &Monitor{cfg: cfg, events: make(chan string, 16), mode: ModeUnavailable}
	if len(cfg.Sources) > 0 {
		m.mode = ModePolling
	}
	return m
}

// Mode returns how pressure is measured.
func (m *Monitor) Mode() Mode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mode
}

// High reports whether memory or io pressure is high now.
func (m *Monitor) High() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.high
}

// Readings returns the last values read, one per source.
func (m *Monitor) Readings() []Reading {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Reading(nil), m.readings...)
}

// Run registers the triggers and reads the files until ctx ends. Without
// sources it returns at once.
func (m *Monitor) Run(ctx context.Context) {
	if len(m.cfg.Sources) == 0 {
		return
	}
	var wg sync.WaitGroup
	armed := 0
	for _, s := range m.cfg.Sources {
		if !s.Trigger || !s.Stops() {
			continue
		}
		fd, err := m.arm(s.Path)
		if err != nil {
			log.G(ctx).WithError(err).WithField("file", s.Path).Debug("prewarm: PSI trigger refused; polling avg10")
			continue
		}
		armed++
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.wait(ctx, fd, s.Name)
		}()
	}
	if armed > 0 {
		m.mu.Lock()
		m.mode = ModeTriggers
		m.mu.Unlock()
	}
	defer wg.Wait()
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	m.sample(time.Now(), "")
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-m.events:
			m.sample(time.Now(), name)
		case now := <-t.C:
			m.sample(now, "")
		}
	}
}

// arm opens a PSI file and registers a trigger on it. Without
// CAP_SYS_RESOURCE the kernel takes only windows that are multiples of 2 s
// (and, on some kernels, no system-wide triggers at all): a refused
// trigger is retried once with the window rounded up to 2 s and the stall
// scaled alike.
func (m *Monitor) arm(path string) (int, error) {
	stall, window := m.cfg.TriggerStall, m.cfg.TriggerWindow
	var err error
	for range 2 {
		var fd int
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		trig := fmt.Sprintf("some %d %d\x00", stall.Microseconds(), window.Microseconds())
		if _, err = unix.Write(fd, []byte(trig)); err == nil {
			return fd, nil
		}
		unix.Close(fd)
		if err != unix.EINVAL || window%(2*time.Second) == 0 {
			break
		}
		w := (window + 2*time.Second - 1) / (2 * time.Second) * (2 * time.Second)
		stall, window = stall*w/window, w
	}
	return -1, err
}

// wait polls a trigger fd for POLLPRI until ctx ends or the file goes
// away (a removed cgroup reports POLLERR).
func (m *Monitor) wait(ctx context.Context, fd int, name string) {
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	for ctx.Err() == nil {
		fds[0].Revents = 0
		n, err := unix.Poll(fds, 250)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			return
		}
		re := fds[0].Revents
		if re&unix.POLLERR != 0 || re&unix.POLLPRI == 0 {
			// Not a PSI file after all, or it went away.
			return
		}
		select {
		case m.events <- name:
		default:
		}
	}
}

// sample reads every source and updates the state. fired names a source
// whose trigger has just fired ("" for none).
func (m *Monitor) sample(now time.Time, fired string) {
	readings := make([]Reading, 0, len(m.cfg.Sources))
	over, calm := fired != "", true
	for _, s := range m.cfg.Sources {
		p, err := ReadFile(s.Path)
		if err != nil {
			continue // a cgroup file can go away; the others still count
		}
		readings = append(readings, Reading{Source: s, Pressure: p})
		if !s.Stops() {
			continue
		}
		if p.Some.Avg10 >= m.cfg.HighAvg10 {
			over = true
		}
		if p.Some.Avg10 >= m.cfg.LowAvg10 {
			calm = false
		}
	}
	m.mu.Lock()
	m.readings = readings
	if over || (m.high && !calm) {
		m.last = now
	}
	was := m.high
	switch {
	case over:
		m.high = true
	case m.high && calm && now.Sub(m.last) >= m.cfg.Calm:
		m.high = false
	}
	changed := was != m.high
	high := m.high
	m.mu.Unlock()
	if changed && m.cfg.OnChange != nil {
		m.cfg.OnChange(high)
	}
}
