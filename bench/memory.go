package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mem is the memory of a daemon's process set, in MiB.
type mem struct {
	rss, uss, pss float64
	procs         int
}

// memKinds are the memory rows, in table order.
var memKinds = []string{"RSS", "USS", "PSS"}

// samples returns the rows "memory, <state> (RSS|USS|PSS)" and "processes, <state>".
func (m mem) samples(state string) []sample {
	return []sample{
		{row: "memory, " + state + " (RSS)", unit: "MiB", v: m.rss},
		{row: "memory, " + state + " (USS)", unit: "MiB", v: m.uss},
		{row: "memory, " + state + " (PSS)", unit: "MiB", v: m.pss},
		{row: "processes, " + state, unit: "count", v: float64(m.procs)},
	}
}

// daemonProcs returns the daemon's own processes: the daemon, its
// descendants that are daemon plumbing (containerd, shims, docker-proxy),
// and every containerd shim whose command line or directories lie under the
// daemon's private root (shims daemonize, so they are not descendants).
// Container processes (children of the shims) are not counted.
func daemonProcs(t *target) ([]int, error) {
	root := t.d.Root()
	daemonPid := t.d.Pid()
	if daemonPid == 0 {
		return nil, fmt.Errorf("%s is not running", t.label)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(b, ')')
		j := bytes.IndexByte(b, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		comm[pid] = string(b[j+1 : i])
	}
	plumbing := func(c string) bool {
		return c == "hyperboxd" || c == "dockerd" || c == "containerd" || c == "docker-proxy" ||
			strings.HasPrefix(c, "containerd-shim")
	}
	descends := func(pid int) bool {
		for p, n := pid, 0; p > 1 && n < 64; p, n = parent[p], n+1 {
			if p == daemonPid {
				return true
			}
		}
		return false
	}
	var pids []int
	for pid, c := range comm {
		if !plumbing(c) {
			continue
		}
		if pid == daemonPid || descends(pid) || (strings.HasPrefix(c, "containerd-shim") && mentions(pid, root)) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func mentions(pid int, root string) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if bytes.Contains(b, []byte(root)) {
		return true
	}
	for _, l := range []string{"cwd", "root"} {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, l)); err == nil && strings.HasPrefix(p+"/", filepath.Clean(root)+"/") {
			return true
		}
	}
	return false
}

// daemonMemory sums over daemonProcs, from /proc/PID/smaps_rollup:
//   - RSS: resident pages, shared ones counted in every process mapping them
//     (N shims of one binary count its text N times): an upper bound;
//   - USS: Private_Clean + Private_Dirty, pages only this process maps: a
//     lower bound (text shared by the shims is counted nowhere);
//   - PSS: shared pages divided among the processes mapping them. The fair
//     share in principle, but on a shared machine it moves with unrelated
//     processes mapping the same files (another dockerd, containerd or
//     hyperboxd of the same binary lowers it).
func daemonMemory(t *target) (mem, error) {
	pids, err := daemonProcs(t)
	if err != nil {
		return mem{}, err
	}
	var m mem
	for _, pid := range pids {
		f, err := kbFields(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Rss:", "Pss:", "Private_Clean:", "Private_Dirty:")
		if err != nil {
			continue // exited meanwhile
		}
		m.rss += f[0] / 1024
		m.pss += f[1] / 1024
		m.uss += (f[2] + f[3]) / 1024
		m.procs++
	}
	return m, nil
}

// kbFields returns the kB values of keys in a /proc file of "Key: N kB" lines.
func kbFields(path string, keys ...string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]float64, len(keys))
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for i, key := range keys {
			if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
				if fs := strings.Fields(rest); len(fs) > 0 {
					if v, err := strconv.ParseFloat(fs[0], 64); err == nil {
						out[i] = v
						found++
					}
				}
			}
		}
	}
	if found != len(keys) {
		return nil, fmt.Errorf("%s: want %v", path, keys)
	}
	return out, nil
}
