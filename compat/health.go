package compat

import (
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/engine"
)

// Health check defaults, as dockerd.
const (
	defaultProbeInterval      = 30 * time.Second
	defaultProbeTimeout       = 30 * time.Second
	defaultStartInterval      = 5 * time.Second
	defaultProbeRetries       = 3
	minimumHealthcheckSetting = time.Millisecond
)

// healthcheck converts Config.Healthcheck (from the request or the image)
// to the engine's probe config: nil for none or ["NONE"].
func healthcheck(h *container.HealthConfig) (*engine.Healthcheck, error) {
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil, nil
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", h.Interval}, {"Timeout", h.Timeout}, {"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
		if d.v < 0 || d.v > 0 && d.v < minimumHealthcheckSetting {
			return nil, invalid("%s in Healthcheck cannot be less than %s", d.name, minimumHealthcheckSetting)
		}
	}
	if h.Retries < 0 {
		return nil, invalid("Retries in Healthcheck cannot be negative")
	}
	var test []string
	switch h.Test[0] {
	case "CMD":
		test = h.Test[1:]
	case "CMD-SHELL":
		if len(h.Test) < 2 {
			return nil, invalid("Healthcheck CMD-SHELL needs a command")
		}
		test = []string{"/bin/sh", "-c", h.Test[1]}
	default:
		return nil, invalid("unknown Healthcheck type %q: want NONE, CMD or CMD-SHELL", h.Test[0])
	}
	if len(test) == 0 {
		return nil, invalid("Healthcheck CMD needs a command")
	}
	out := &engine.Healthcheck{Test: test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	if out.Interval == 0 {
		out.Interval = defaultProbeInterval
	}
	if out.Timeout == 0 {
		out.Timeout = defaultProbeTimeout
	}
	if out.StartInterval == 0 {
		out.StartInterval = defaultStartInterval
	}
	if out.Retries == 0 {
		out.Retries = defaultProbeRetries
	}
	return out, nil
}

// healthState converts the engine's health record for inspect.
func healthState(h *engine.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := &container.Health{Status: container.HealthStatus(h.Status), FailingStreak: h.FailingStreak, Log: []*container.HealthcheckResult{}}
	for _, r := range h.Log {
		out.Log = append(out.Log, &container.HealthcheckResult{Start: r.Start, End: r.End, ExitCode: r.ExitCode, Output: r.Output})
	}
	return out
}

// validateRestartPolicy refuses what dockerd refuses.
func validateRestartPolicy(p container.RestartPolicy) error {
	switch p.Name {
	case "", "no", "always", "unless-stopped":
		if p.MaximumRetryCount != 0 {
			return invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case "on-failure":
		if p.MaximumRetryCount < 0 {
			return invalid("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return invalid("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", p.Name)
	}
	return nil
}
