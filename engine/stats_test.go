package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// writeTree creates files (path -> content) below root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		assert.NilError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		assert.NilError(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

const (
	gib     = 1 << 30
	hostMem = 24 * gib
	cgPath  = "/hyperbox/c1"
)

// v1Files is a container's cgroup as runc leaves it on the v1 hierarchies
// (pure v1, or the v1 half of the hybrid layout).
func v1Files(limit string) map[string]string {
	return map[string]string{
		"cpuacct/hyperbox/c1/cpuacct.usage":                           "3000000000\n",
		"cpuacct/hyperbox/c1/cpuacct.usage_percpu":                    "1000000000 2000000000 \n",
		"cpuacct/hyperbox/c1/cpuacct.stat":                            "user 250\nsystem 50\n",
		"cpu/hyperbox/c1/cpu.stat":                                    "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n",
		"memory/hyperbox/c1/memory.usage_in_bytes":                    "23068672\n",
		"memory/hyperbox/c1/memory.max_usage_in_bytes":                "25165824\n",
		"memory/hyperbox/c1/memory.limit_in_bytes":                    limit,
		"memory/hyperbox/c1/memory.failcnt":                           "0\n",
		"memory/hyperbox/c1/memory.stat":                              "cache 20971520\nrss 1048576\ntotal_inactive_file 4096\ntotal_rss 1048576\n",
		"pids/hyperbox/c1/pids.current":                               "2\n",
		"pids/hyperbox/c1/pids.max":                                   "max\n",
		"blkio/hyperbox/c1/blkio.io_service_bytes_recursive":          "",
		"blkio/hyperbox/c1/blkio.io_serviced_recursive":               "",
		"blkio/hyperbox/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n",
		"blkio/hyperbox/c1/blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n",
	}
}

// v2Files is the same container on a cgroup v2 hierarchy with the cpu,
// memory, pids and io controllers enabled.
func v2Files(max string) map[string]string {
	return map[string]string{
		"hyperbox/c1/cpu.stat":       "usage_usec 3000000\nuser_usec 2500000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 5\n",
		"hyperbox/c1/memory.current": "23068672\n",
		"hyperbox/c1/memory.peak":    "25165824\n",
		"hyperbox/c1/memory.max":     max,
		"hyperbox/c1/memory.events":  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
		"hyperbox/c1/memory.stat":    "anon 1048576\nfile 20971520\ninactive_file 4096\n",
		"hyperbox/c1/pids.current":   "2\n",
		"hyperbox/c1/pids.max":       "32\n",
		"hyperbox/c1/io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
	}
}

func v1Hierarchies(root string) cgroupHierarchies {
	h := cgroupHierarchies{v1: map[string]string{}}
	for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio"} {
		h.v1[c] = filepath.Join(root, c)
	}
	return h
}

func TestCgroupSample(t *testing.T) {
	t.Parallel()
	wantCPU := CPUStats{
		TotalUsage: 3000000000, UsageInUsermode: 2500000000, UsageInKernelmode: 500000000,
		Periods: 10, ThrottledPeriods: 2,
	}
	type tc struct {
		name  string
		files map[string]string
		// h builds the hierarchies for the fake tree at root.
		h          func(root string) cgroupHierarchies
		wantVer    int
		wantCPU    CPUStats
		wantMem    MemoryStats
		wantPids   PidsStats
		wantBlkio  []BlkioEntry
		wantServed []BlkioEntry
	}
	v1CPU := wantCPU
	v1CPU.PercpuUsage = []uint64{1000000000, 2000000000}
	v1CPU.ThrottledTime = 5000
	v2CPU := wantCPU
	v2CPU.ThrottledTime = 5000
	v1Mem := MemoryStats{Usage: 23068672, MaxUsage: 25165824, Stats: map[string]uint64{
		"cache": 20971520, "rss": 1048576, "total_inactive_file": 4096, "total_rss": 1048576}}
	v2Mem := MemoryStats{Usage: 23068672, MaxUsage: 25165824, Failcnt: 1, Stats: map[string]uint64{
		"anon": 1048576, "file": 20971520, "inactive_file": 4096}}
	v1Blkio := []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 8192}, {8, 0, "Sync", 0}, {8, 0, "Async", 12288}, {8, 0, "Discard", 0}, {8, 0, "Total", 12288}}
	v1Served := []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}, {8, 0, "Total", 3}}
	v2Blkio := []BlkioEntry{{8, 0, "read", 4096}, {8, 0, "write", 8192}}

	withLimit := func(m MemoryStats, l uint64) MemoryStats { m.Limit = l; return m }
	cases := []tc{
		{
			name: "v1 without limit", files: v1Files("9223372036854771712\n"), h: v1Hierarchies,
			wantVer: 1, wantCPU: v1CPU, wantMem: withLimit(v1Mem, hostMem), wantPids: PidsStats{Current: 2},
			wantBlkio: v1Blkio, wantServed: v1Served,
		},
		{
			name: "v1 with a 64MiB limit", files: v1Files("67108864\n"), h: v1Hierarchies,
			wantVer: 1, wantCPU: v1CPU, wantMem: withLimit(v1Mem, 64<<20), wantPids: PidsStats{Current: 2},
			wantBlkio: v1Blkio, wantServed: v1Served,
		},
		{
			name: "v2 without limit", files: v2Files("max\n"),
			h:       func(root string) cgroupHierarchies { return cgroupHierarchies{v1: map[string]string{}, v2: root} },
			wantVer: 2, wantCPU: v2CPU, wantMem: withLimit(v2Mem, hostMem), wantPids: PidsStats{Current: 2, Limit: 32},
			wantBlkio: v2Blkio,
		},
		{
			name: "v2 with a 64MiB limit", files: v2Files("67108864\n"),
			h:       func(root string) cgroupHierarchies { return cgroupHierarchies{v1: map[string]string{}, v2: root} },
			wantVer: 2, wantCPU: v2CPU, wantMem: withLimit(v2Mem, 64<<20), wantPids: PidsStats{Current: 2, Limit: 32},
			wantBlkio: v2Blkio,
		},
		{
			// The machines' layout: controllers on v1, an empty cgroup2 at
			// unified/ (its cpu.stat must not be preferred over cpuacct).
			name: "hybrid",
			files: func() map[string]string {
				f := v1Files("9223372036854771712\n")
				f["unified/hyperbox/c1/cpu.stat"] = "usage_usec 1\nuser_usec 1\nsystem_usec 0\n"
				f["unified/hyperbox/c1/cgroup.procs"] = "1234\n"
				return f
			}(),
			h: func(root string) cgroupHierarchies {
				h := v1Hierarchies(root)
				h.v2 = filepath.Join(root, "unified")
				return h
			},
			wantVer: 1, wantCPU: v1CPU, wantMem: withLimit(v1Mem, hostMem), wantPids: PidsStats{Current: 2},
			wantBlkio: v1Blkio, wantServed: v1Served,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, c.files)
			s, err := c.h(root).sample(cgPath, hostMem)
			assert.NilError(t, err)
			assert.Check(t, is.Equal(s.CgroupVersion, c.wantVer))
			assert.Check(t, is.DeepEqual(s.CPU, c.wantCPU))
			assert.Check(t, is.DeepEqual(s.Memory, c.wantMem))
			assert.Check(t, is.DeepEqual(s.Pids, c.wantPids))
			assert.Check(t, is.DeepEqual(s.Blkio.ServiceBytes, c.wantBlkio))
			assert.Check(t, is.DeepEqual(s.Blkio.Serviced, c.wantServed))
		})
	}
}

func TestCgroupSampleGone(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, h := range []cgroupHierarchies{v1Hierarchies(root), {v2: root}} {
		_, err := h.sample(cgPath, hostMem)
		assert.Check(t, errors.Is(err, errCgroupGone), "err %v", err)
	}
}

func TestBlkioCFQPreferred(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := v1Files("1\n")
	files["blkio/hyperbox/c1/blkio.io_service_bytes_recursive"] = "8:16 Read 100\n8:16 Write 200\nTotal 300\n"
	files["blkio/hyperbox/c1/blkio.sectors_recursive"] = "8:16 7\n"
	writeTree(t, root, files)
	s, err := v1Hierarchies(root).sample(cgPath, hostMem)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(s.Blkio.ServiceBytes, []BlkioEntry{{8, 16, "Read", 100}, {8, 16, "Write", 200}}))
	assert.Check(t, is.DeepEqual(s.Blkio.Sectors, []BlkioEntry{{8, 16, "", 7}}))
	assert.Check(t, is.Len(s.Blkio.Serviced, 0))
	assert.Check(t, s.Blkio.Queued != nil, "v1 lists are never null")
}

func TestParseCgroupMounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		in     string
		wantV1 map[string]string
		wantV2 string
	}{
		{
			name: "hybrid",
			in: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			wantV1: map[string]string{"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct",
				"memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"},
			wantV2: "/sys/fs/cgroup/unified",
		},
		{
			name: "v1 with co-mounted controllers and optional fields",
			in: `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/pids rw,nosuid shared:10 - cgroup cgroup rw,pids
`,
			wantV1: map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "pids": "/sys/fs/cgroup/pids"},
		},
		{
			name:   "v2",
			in:     "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
			wantV1: map[string]string{},
			wantV2: "/sys/fs/cgroup",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := parseCgroupMounts(strings.NewReader(c.in))
			assert.Check(t, is.DeepEqual(h.v1, c.wantV1))
			assert.Check(t, is.Equal(h.v2, c.wantV2))
		})
	}
}

func TestParseNetDev(t *testing.T) {
	t.Parallel()
	const header = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	cases := []struct {
		name string
		in   string
		want map[string]NetworkStats
	}{
		{name: "loopback only", in: header + "    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0\n"},
		{
			name: "eth0",
			in: header + "    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0\n" +
				"  eth0: 1500 10 1 2 0 0 0 0 3000 20 3 4 0 0 0 0\n",
			want: map[string]NetworkStats{"eth0": {RxBytes: 1500, RxPackets: 10, RxErrors: 1, RxDropped: 2, TxBytes: 3000, TxPackets: 20, TxErrors: 3, TxDropped: 4}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, is.DeepEqual(parseNetDev(strings.NewReader(c.in)), c.want))
		})
	}
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		total   uint64
		ncpu    uint32
		wantErr bool
	}{
		{
			name:  "two cpus",
			in:    "cpu  100 0 50 800 10 5 5 0 0 0\ncpu0 50 0 25 400 5 2 3 0 0 0\ncpu1 50 0 25 400 5 3 2 0 0 0\nintr 1 2 3\n",
			total: 970 * 10_000_000, ncpu: 2,
		},
		{name: "no cpu line", in: "intr 1\n", wantErr: true},
		{name: "short cpu line", in: "cpu 1 2 3\n", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			total, ncpu, err := parseProcStat(strings.NewReader(c.in))
			if c.wantErr {
				assert.Check(t, err != nil)
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(total, c.total))
			assert.Check(t, is.Equal(ncpu, c.ncpu))
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	t.Parallel()
	assert.Check(t, is.Equal(parseMemTotal(strings.NewReader("MemTotal:       24684064 kB\nMemFree: 1 kB\n")), uint64(24684064*1024)))
	assert.Check(t, is.Equal(parseMemTotal(strings.NewReader("MemFree: 1 kB\n")), uint64(0)))
}

// The real host: whatever its layout, the daemon's own cgroup can be read
// (its path is the one /proc/self/cgroup names for the memory controller,
// or the v2 path).
func TestHostCgroupsSampleSelf(t *testing.T) {
	h, err := hostCgroups()
	assert.NilError(t, err)
	b, err := os.ReadFile("/proc/self/cgroup")
	assert.NilError(t, err)
	var path string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && (parts[1] == "memory" || (parts[1] == "" && path == "")) {
			path = parts[2]
		}
	}
	if path == "" || path == "/" {
		t.Skip("the test process is in the root cgroup, which has no memory.current on v2")
	}
	s, err := h.sample(path, hostMemory())
	assert.NilError(t, err)
	assert.Check(t, s.Memory.Usage > 0, "memory usage of %s: %+v", path, s.Memory)
	assert.Check(t, s.Memory.Limit > 0 && s.Memory.Limit <= hostMemory())
	total, ncpu, err := systemCPU()
	assert.NilError(t, err)
	assert.Check(t, total > 0 && ncpu > 0)
}
