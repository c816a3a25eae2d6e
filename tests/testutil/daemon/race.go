package daemon

import (
	"strings"
)

// upstreamModule is third-party code the daemon embeds whose own data
// races are not ours: BuildKit's solver and Dockerfile frontend race on
// progress and cache bookkeeping under concurrent builds (a BuildKit
// daemon is not run with -race upstream). A report is let through only
// when both accesses happen in such code and none of our frames is on
// either stack; any race touching our code still fails the suite.
var upstreamModules = []string{"github.com/moby/buildkit/"}

// ourModule prefixes the function names of our own code.
const ourModule = "github.com/hyperbox/hyperbox/"

// ourRaces returns the race reports in a daemon log that are not purely
// upstream races.
func ourRaces(log string) []string {
	const marker = "WARNING: DATA RACE"
	var out []string
	parts := strings.Split(log, marker)
	for _, report := range parts[1:] {
		if end := strings.Index(report, "=================="); end >= 0 {
			report = report[:end]
		}
		if !upstreamRace(report) {
			out = append(out, marker+report)
		}
	}
	return out
}

// upstreamRace tells whether the two access stacks of a report (not the
// goroutine creation stacks) lie in upstream code only.
func upstreamRace(report string) bool {
	if i := strings.Index(report, "\nGoroutine "); i >= 0 {
		report = report[:i]
	}
	upstream := false
	for _, l := range strings.Split(report, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, ourModule) {
			return false
		}
		for _, m := range upstreamModules {
			if strings.HasPrefix(l, m) {
				upstream = true
			}
		}
	}
	return upstream
}
