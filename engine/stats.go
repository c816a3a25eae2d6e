package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// Stats is one sample of a running container's resource usage, read from
// its cgroup and from the host's /proc.
type Stats struct {
	// Read is when the sample was taken.
	Read time.Time
	// CgroupVersion is the hierarchy the memory numbers came from (1 or 2).
	// The keys of Memory.Stats depend on it: v1 has cache, rss,
	// total_inactive_file, ...; v2 has anon, file, inactive_file, ...
	CgroupVersion int
	CPU           CPUStats
	Memory        MemoryStats
	Pids          PidsStats
	Blkio         BlkioStats
	// SystemCPUUsage is the host's CPU time in nanoseconds (the "cpu" line of
	// /proc/stat) and OnlineCPUs the number of its "cpuN" lines, sampled
	// right after the cgroup so that CPU percentages are consistent.
	SystemCPUUsage uint64
	OnlineCPUs     uint32
	// Networks are the interfaces of the container's network namespace,
	// loopback left out; nil with host networking.
	Networks map[string]NetworkStats
}

// CPUStats is the CPU time a cgroup used, in nanoseconds.
type CPUStats struct {
	TotalUsage        uint64
	UsageInKernelmode uint64
	UsageInUsermode   uint64
	// PercpuUsage is only known on cgroup v1 (cpuacct.usage_percpu).
	PercpuUsage      []uint64
	Periods          uint64
	ThrottledPeriods uint64
	ThrottledTime    uint64
}

// MemoryStats is a cgroup's memory use in bytes. Limit is the host's
// memory when the cgroup has no lower limit.
type MemoryStats struct {
	Usage    uint64
	MaxUsage uint64
	Limit    uint64
	// Failcnt is memory.failcnt on v1 and the oom count of memory.events on v2.
	Failcnt uint64
	// Stats is memory.stat as it is.
	Stats map[string]uint64
}

// PidsStats counts a cgroup's tasks; Limit 0 means no limit.
type PidsStats struct {
	Current uint64
	Limit   uint64
}

// BlkioEntry is one line of a block I/O statistics file.
type BlkioEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// BlkioStats are the cgroup's block I/O counters. On cgroup v2 only
// ServiceBytes is known (from io.stat, ops "read" and "write").
type BlkioStats struct {
	ServiceBytes []BlkioEntry
	Serviced     []BlkioEntry
	Queued       []BlkioEntry
	ServiceTime  []BlkioEntry
	WaitTime     []BlkioEntry
	Merged       []BlkioEntry
	Time         []BlkioEntry
	Sectors      []BlkioEntry
}

// NetworkStats are one interface's counters from /proc/<pid>/net/dev.
type NetworkStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// Stats samples a running container's resource usage. It reads files only
// and does not block on the container.
// Errors: NotFound, Conflict (not running, or restarting).
func (e *Engine) Stats(ctx context.Context, ref string) (Stats, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return Stats{}, err
	}
	c.mu.Lock()
	id, st, netMode := c.rec.ID, c.rec.State, c.rec.Spec.NetworkMode
	running := c.task != nil && st.Running && !st.Restarting
	c.mu.Unlock()
	if !running {
		return Stats{}, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	h, err := hostCgroups()
	if err != nil {
		return Stats{}, err
	}
	s, err := h.sample(e.cgroupPath(id), hostMemory())
	if errors.Is(err, errCgroupGone) {
		// The task exited while we looked.
		return Stats{}, fmt.Errorf("container %s is not running: %w", id, errdefs.ErrConflict)
	}
	if err != nil {
		return Stats{}, err
	}
	s.Read = time.Now().UTC()
	if s.SystemCPUUsage, s.OnlineCPUs, err = systemCPU(); err != nil {
		return Stats{}, err
	}
	if netMode != "host" && st.Pid > 0 {
		// Best effort, as dockerd: a container without interfaces but
		// loopback has no networks.
		if f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", st.Pid)); err == nil {
			s.Networks = parseNetDev(f)
			f.Close()
		}
	}
	return s, nil
}

// errCgroupGone: the cgroup exists in none of the hierarchies.
var errCgroupGone = errors.New("cgroup not found")

// cgroupHierarchies says where the host mounts its cgroup hierarchies; it
// covers pure v1, pure v2 and the hybrid layout (v1 controllers plus a
// cgroup2 mount at /sys/fs/cgroup/unified).
type cgroupHierarchies struct {
	// v1 maps a v1 controller ("memory", "cpuacct", ...) to the
	// mountpoint of its hierarchy (co-mounted controllers share one).
	v1 map[string]string
	// v2 is the cgroup2 mountpoint, "" when there is none.
	v2 string
}

// hostCgroups reads the cgroup mounts of the host from mountinfo; they can
// change at run time (PrepareCgroups mounts hierarchies), so it is not
// cached.
func hostCgroups() (cgroupHierarchies, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return cgroupHierarchies{}, err
	}
	defer f.Close()
	return parseCgroupMounts(f), nil
}

// parseCgroupMounts finds the cgroup and cgroup2 mounts in mountinfo. The
// first mount of a hierarchy wins.
func parseCgroupMounts(r io.Reader) cgroupHierarchies {
	h := cgroupHierarchies{v1: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent maj:min root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 >= len(fields) {
			continue
		}
		mnt := fields[4]
		switch fields[sep+1] {
		case "cgroup2":
			if h.v2 == "" {
				h.v2 = mnt
			}
		case "cgroup":
			for _, opt := range strings.Split(fields[sep+3], ",") {
				if _, ok := h.v1[opt]; !ok && opt != "rw" && opt != "ro" {
					h.v1[opt] = mnt
				}
			}
		}
	}
	return h
}

// dirV1 is the directory of cgroup path in ctrl's v1 hierarchy, "" when
// the controller is not on v1 or the cgroup is not in it.
func (h cgroupHierarchies) dirV1(ctrl, path string) string {
	mnt, ok := h.v1[ctrl]
	if !ok {
		return ""
	}
	return cgDir(filepath.Join(mnt, path))
}

// dirV2 is the directory of cgroup path in the v2 hierarchy, or "".
func (h cgroupHierarchies) dirV2(path string) string {
	if h.v2 == "" {
		return ""
	}
	return cgDir(filepath.Join(h.v2, path))
}

func cgDir(p string) string {
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return p
	}
	return ""
}

// sample reads the numbers of the cgroup at path ("/<namespace>/<id>"). Each
// controller is read from its v1 hierarchy when it has one there, else from
// v2 (where the controller's files exist only if it is enabled). Missing
// files leave zeros. hostMem caps the memory limit.
func (h cgroupHierarchies) sample(path string, hostMem uint64) (Stats, error) {
	var s Stats
	v2 := h.dirV2(path)
	found := v2 != ""
	if d := h.dirV1("cpuacct", path); d != "" {
		found = true
		readCPUV1(d, h.dirV1("cpu", path), &s.CPU)
	} else if v2 != "" {
		readCPUV2(v2, &s.CPU)
	}
	if d := h.dirV1("memory", path); d != "" {
		found = true
		s.CgroupVersion = 1
		readMemoryV1(d, hostMem, &s.Memory)
	} else if v2 != "" && cgFileExists(filepath.Join(v2, "memory.current")) {
		s.CgroupVersion = 2
		readMemoryV2(v2, hostMem, &s.Memory)
	}
	if d := h.dirV1("pids", path); d != "" {
		found = true
		s.Pids = readPids(d)
	} else if v2 != "" {
		s.Pids = readPids(v2)
	}
	if d := h.dirV1("blkio", path); d != "" {
		found = true
		s.Blkio = readBlkioV1(d)
	} else if v2 != "" {
		s.Blkio.ServiceBytes = readIOStatV2(filepath.Join(v2, "io.stat"))
	}
	if !found {
		return Stats{}, fmt.Errorf("cgroup %s: %w", path, errCgroupGone)
	}
	return s, nil
}

// userHZ is the unit of cpuacct.stat: USER_HZ is 100 on every Linux
// architecture Go supports.
const userHZ = 100

func readCPUV1(acct, cpu string, out *CPUStats) {
	out.TotalUsage, _ = cgUint(filepath.Join(acct, "cpuacct.usage"))
	if b, err := os.ReadFile(filepath.Join(acct, "cpuacct.usage_percpu")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.ParseUint(f, 10, 64); err == nil {
				out.PercpuUsage = append(out.PercpuUsage, n)
			}
		}
	}
	st := cgKeyValues(filepath.Join(acct, "cpuacct.stat"))
	out.UsageInUsermode = st["user"] * (uint64(time.Second) / userHZ)
	out.UsageInKernelmode = st["system"] * (uint64(time.Second) / userHZ)
	if cpu != "" {
		th := cgKeyValues(filepath.Join(cpu, "cpu.stat"))
		out.Periods, out.ThrottledPeriods, out.ThrottledTime = th["nr_periods"], th["nr_throttled"], th["throttled_time"]
	}
}

func readCPUV2(dir string, out *CPUStats) {
	st := cgKeyValues(filepath.Join(dir, "cpu.stat"))
	us := uint64(time.Microsecond)
	out.TotalUsage = st["usage_usec"] * us
	out.UsageInUsermode = st["user_usec"] * us
	out.UsageInKernelmode = st["system_usec"] * us
	out.Periods, out.ThrottledPeriods, out.ThrottledTime = st["nr_periods"], st["nr_throttled"], st["throttled_usec"]*us
}

func readMemoryV1(dir string, hostMem uint64, out *MemoryStats) {
	out.Usage, _ = cgUint(filepath.Join(dir, "memory.usage_in_bytes"))
	out.MaxUsage, _ = cgUint(filepath.Join(dir, "memory.max_usage_in_bytes"))
	out.Failcnt, _ = cgUint(filepath.Join(dir, "memory.failcnt"))
	limit, ok := cgUint(filepath.Join(dir, "memory.limit_in_bytes"))
	out.Limit = capLimit(limit, ok, hostMem)
	out.Stats = cgKeyValues(filepath.Join(dir, "memory.stat"))
}

func readMemoryV2(dir string, hostMem uint64, out *MemoryStats) {
	out.Usage, _ = cgUint(filepath.Join(dir, "memory.current"))
	// memory.peak exists since Linux 5.19; dockerd leaves MaxUsage empty on v2.
	out.MaxUsage, _ = cgUint(filepath.Join(dir, "memory.peak"))
	limit, ok := cgUint(filepath.Join(dir, "memory.max"))
	out.Limit = capLimit(limit, ok, hostMem)
	out.Failcnt = cgKeyValues(filepath.Join(dir, "memory.events"))["oom"]
	out.Stats = cgKeyValues(filepath.Join(dir, "memory.stat"))
}

// capLimit reports the host's memory for "no limit" ("max" on v2, a huge
// number on v1) as dockerd does.
func capLimit(limit uint64, ok bool, hostMem uint64) uint64 {
	if hostMem > 0 && (!ok || limit > hostMem) {
		return hostMem
	}
	return limit
}

// readPids reads pids.current and pids.max (same names on v1 and v2).
func readPids(dir string) PidsStats {
	var p PidsStats
	p.Current, _ = cgUint(filepath.Join(dir, "pids.current"))
	p.Limit, _ = cgUint(filepath.Join(dir, "pids.max")) // "max": 0, no limit
	return p
}

// readBlkioV1 reads the CFQ counters and, on kernels without CFQ (their
// files missing or empty), the throttle layer's bytes and operations. All
// lists are non-nil, as dockerd reports them on v1.
func readBlkioV1(dir string) BlkioStats {
	f := func(name string) []BlkioEntry {
		if e := readBlkioFile(filepath.Join(dir, name)); e != nil {
			return e
		}
		return []BlkioEntry{}
	}
	b := BlkioStats{
		ServiceBytes: f("blkio.io_service_bytes_recursive"),
		Serviced:     f("blkio.io_serviced_recursive"),
		Queued:       f("blkio.io_queued_recursive"),
		ServiceTime:  f("blkio.io_service_time_recursive"),
		WaitTime:     f("blkio.io_wait_time_recursive"),
		Merged:       f("blkio.io_merged_recursive"),
		Time:         f("blkio.time_recursive"),
		Sectors:      f("blkio.sectors_recursive"),
	}
	if len(b.ServiceBytes) == 0 && len(b.Serviced) == 0 {
		b.ServiceBytes = f("blkio.throttle.io_service_bytes_recursive")
		b.Serviced = f("blkio.throttle.io_serviced_recursive")
	}
	return b
}

// readBlkioFile parses "MAJ:MIN Op value" lines ("MAJ:MIN value" in
// time/sectors files); the closing "Total value" line is skipped. A file
// that does not exist gives nil, an empty one an empty list.
func readBlkioFile(p string) []BlkioEntry {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseBlkio(f)
}

func parseBlkio(r io.Reader) []BlkioEntry {
	out := []BlkioEntry{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || len(fields) > 3 {
			continue
		}
		major, minor, ok := parseBlkDevice(fields[0])
		if !ok {
			continue // "Total N"
		}
		e := BlkioEntry{Major: major, Minor: minor}
		val := fields[1]
		if len(fields) == 3 {
			e.Op, val = fields[1], fields[2]
		}
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			continue
		}
		e.Value = n
		out = append(out, e)
	}
	return out
}

func parseBlkDevice(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 64)
	minor, err2 := strconv.ParseUint(b, 10, 64)
	return major, minor, err1 == nil && err2 == nil
}

// readIOStatV2 turns io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N ...") into
// "read" and "write" byte entries, the only ones dockerd reports on v2.
func readIOStatV2(p string) []BlkioEntry {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseIOStat(f)
}

func parseIOStat(r io.Reader) []BlkioEntry {
	var out []BlkioEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		major, minor, ok := parseBlkDevice(fields[0])
		if !ok {
			continue
		}
		var rb, wb uint64
		for _, kv := range fields[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				rb = n
			case "wbytes":
				wb = n
			}
		}
		out = append(out,
			BlkioEntry{Major: major, Minor: minor, Op: "read", Value: rb},
			BlkioEntry{Major: major, Minor: minor, Op: "write", Value: wb})
	}
	return out
}

// parseNetDev reads /proc/<pid>/net/dev: per interface, the receive
// columns bytes packets errs drop fifo frame compressed multicast, then the
// transmit columns bytes packets errs drop ... Loopback is left out, as
// dockerd reports only the container's network endpoints. Nil when there
// is nothing else.
func parseNetDev(r io.Reader) map[string]NetworkStats {
	var out map[string]NetworkStats
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || len(f) < 12 {
			continue
		}
		n := make([]uint64, 12)
		for i := range n {
			n[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		if out == nil {
			out = map[string]NetworkStats{}
		}
		out[name] = NetworkStats{
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11],
		}
	}
	return out
}

// systemCPU reads the host's CPU time and CPU count from /proc/stat.
func systemCPU() (uint64, uint32, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseProcStat(f)
}

// parseProcStat sums the first seven columns of the "cpu" line (user nice
// system idle iowait irq softirq, in USER_HZ ticks) into nanoseconds, as
// dockerd does, and counts the "cpuN" lines.
func parseProcStat(r io.Reader) (uint64, uint32, error) {
	var total uint64
	var ncpu uint32
	seen := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			continue
		}
		if fields[0] != "cpu" {
			ncpu++
			continue
		}
		if len(fields) < 8 {
			return 0, 0, fmt.Errorf("/proc/stat: invalid cpu line %q", sc.Text())
		}
		var ticks uint64
		for _, v := range fields[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat: %w", err)
			}
			ticks += n
		}
		total, seen = ticks*(uint64(time.Second)/userHZ), true
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !seen {
		return 0, 0, errors.New("/proc/stat: no cpu line")
	}
	return total, ncpu, nil
}

// hostMemory is MemTotal of /proc/meminfo in bytes (0 if unknown).
var hostMemory = sync.OnceValue(func() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseMemTotal(f)
})

func parseMemTotal(r io.Reader) uint64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			if len(f) >= 3 && f[2] == "kB" {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

// cgUint reads a file holding one number; false when it is missing or
// holds something else ("max").
func cgUint(p string) (uint64, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// cgKeyValues reads "key value" lines (memory.stat, cpu.stat, ...).
func cgKeyValues(p string) map[string]uint64 {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

func cgFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
