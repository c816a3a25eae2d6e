// Package prewarm keeps a pool of ready resources (prepared root
// filesystem snapshots) so that a container create or start does not wait
// for them. Linux pressure stall information (PSI) decides when the pool
// may grow: rising memory or io pressure drains it, falling pressure lets
// it refill. It has no Docker types and no HTTP.
package prewarm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stat is one line of a PSI file: the share of wall time (percent) in
// which some (or all) tasks stalled, averaged over 10 s, 60 s and 300 s,
// and the total stall time in microseconds.
type Stat struct {
	Avg10, Avg60, Avg300 float64
	Total                uint64
}

// Pressure is the content of a PSI file (/proc/pressure/* or a cgroup v2
// *.pressure file). Full is zero for cpu on kernels that lack it.
type Pressure struct {
	Some, Full Stat
}

// Parse reads a PSI file's content:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func Parse(r io.Reader) (Pressure, error) {
	var p Pressure
	sc := bufio.NewScanner(r)
	seen := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		var st *Stat
		switch fields[0] {
		case "some":
			st = &p.Some
		case "full":
			st = &p.Full
		default:
			return Pressure{}, fmt.Errorf("psi: unexpected line %q", sc.Text())
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return Pressure{}, fmt.Errorf("psi: malformed field %q", f)
			}
			var err error
			switch k {
			case "avg10":
				st.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				st.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				st.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				st.Total, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return Pressure{}, fmt.Errorf("psi: field %q: %w", f, err)
			}
		}
		seen = true
	}
	if err := sc.Err(); err != nil {
		return Pressure{}, err
	}
	if !seen {
		return Pressure{}, fmt.Errorf("psi: empty file")
	}
	return p, nil
}

// ReadFile reads and parses one PSI file.
func ReadFile(path string) (Pressure, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Pressure{}, err
	}
	p, err := Parse(bytes.NewReader(data))
	if err != nil {
		return Pressure{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Source is one PSI file the monitor reads.
type Source struct {
	// Name identifies the reading: "system/memory", "cgroup/io", ...
	Name string
	// Resource is "cpu", "memory" or "io".
	Resource string
	Path     string
	// Trigger says the file accepts PSI triggers (a real PSI file, not a
	// copy); only memory and io sources stop prewarming.
	Trigger bool
}

// Stops reports whether pressure on this source stops prewarming: memory
// and io do; cpu is only reported.
func (s Source) Stops() bool { return s.Resource == "memory" || s.Resource == "io" }

// FindSources lists the PSI files of this machine: the system-wide ones
// under procRoot/pressure and those of the calling process's cgroup v2
// (at cgroupRoot on a unified host, at cgroupRoot/unified on a v1/v2
// hybrid host). An empty result means the kernel has no PSI.
func FindSources(procRoot, cgroupRoot string) []Source {
	var out []Source
	resources := []string{"cpu", "memory", "io"}
	for _, r := range resources {
		p := filepath.Join(procRoot, "pressure", r)
		if _, err := ReadFile(p); err == nil {
			out = append(out, Source{Name: "system/" + r, Resource: r, Path: p, Trigger: true})
		}
	}
	dir := CgroupDir(procRoot, cgroupRoot)
	if dir == "" {
		return out
	}
	for _, r := range resources {
		p := filepath.Join(dir, r+".pressure")
		if _, err := ReadFile(p); err == nil {
			out = append(out, Source{Name: "cgroup/" + r, Resource: r, Path: p, Trigger: true})
		}
	}
	return out
}

// CgroupDir returns the directory of the calling process's cgroup in the
// v2 hierarchy, or "" when there is none (a pure v1 host).
func CgroupDir(procRoot, cgroupRoot string) string {
	data, err := os.ReadFile(filepath.Join(procRoot, "self", "cgroup"))
	if err != nil {
		return ""
	}
	rel := ""
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = p, true
			break
		}
	}
	if !found {
		return ""
	}
	for _, base := range []string{cgroupRoot, filepath.Join(cgroupRoot, "unified")} {
		if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err == nil {
			return filepath.Join(base, rel)
		}
	}
	return ""
}
