package compat

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/engine"
)

func TestDockerStats(t *testing.T) {
	t.Parallel()
	read := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		in   engine.Stats
		// want holds JSON paths (as nested keys) and their values.
		check func(t *testing.T, rec *container.StatsResponse, raw map[string]any)
	}{
		{
			name: "cgroup v1",
			in: engine.Stats{
				Read: read, CgroupVersion: 1,
				CPU:            engine.CPUStats{TotalUsage: 3e9, UsageInUsermode: 2e9, UsageInKernelmode: 1e9, PercpuUsage: []uint64{1e9, 2e9}, Periods: 4, ThrottledPeriods: 1, ThrottledTime: 7},
				Memory:         engine.MemoryStats{Usage: 20 << 20, MaxUsage: 21 << 20, Limit: 1 << 30, Stats: map[string]uint64{"total_inactive_file": 4096, "cache": 1}},
				Pids:           engine.PidsStats{Current: 2},
				Blkio:          engine.BlkioStats{ServiceBytes: []engine.BlkioEntry{{Major: 8, Op: "Read", Value: 9}}, Serviced: []engine.BlkioEntry{}},
				SystemCPUUsage: 5e9, OnlineCPUs: 2,
			},
			check: func(t *testing.T, rec *container.StatsResponse, raw map[string]any) {
				assert.Check(t, is.Equal(rec.CPUStats.CPUUsage.TotalUsage, uint64(3e9)))
				assert.Check(t, is.DeepEqual(rec.CPUStats.CPUUsage.PercpuUsage, []uint64{1e9, 2e9}))
				assert.Check(t, is.Equal(rec.CPUStats.SystemUsage, uint64(5e9)))
				assert.Check(t, is.Equal(rec.CPUStats.OnlineCPUs, uint32(2)))
				assert.Check(t, is.Equal(rec.CPUStats.ThrottlingData.ThrottledTime, uint64(7)))
				assert.Check(t, is.Equal(rec.MemoryStats.Usage, uint64(20<<20)))
				assert.Check(t, is.Equal(rec.MemoryStats.Limit, uint64(1<<30)))
				assert.Check(t, is.Equal(rec.MemoryStats.Stats["total_inactive_file"], uint64(4096)))
				assert.Check(t, is.Equal(rec.PidsStats.Current, uint64(2)))
				blkio := raw["blkio_stats"].(map[string]any)
				assert.Check(t, is.Len(blkio["io_service_bytes_recursive"], 1))
				assert.Check(t, is.DeepEqual(blkio["io_serviced_recursive"], []any{}))
				assert.Check(t, is.Nil(blkio["io_queue_recursive"]))
				_, hasNet := raw["networks"]
				assert.Check(t, !hasNet, "no networks key without interfaces")
				cpu := raw["cpu_stats"].(map[string]any)
				assert.Check(t, is.Equal(cpu["system_cpu_usage"], 5e9))
				assert.Check(t, is.Equal(cpu["cpu_usage"].(map[string]any)["usage_in_usermode"], 2e9))
			},
		},
		{
			name: "cgroup v2 with a network",
			in: engine.Stats{
				Read: read, CgroupVersion: 2,
				CPU:      engine.CPUStats{TotalUsage: 1000, UsageInUsermode: 600, UsageInKernelmode: 400},
				Memory:   engine.MemoryStats{Usage: 100, Limit: 200, Failcnt: 1, Stats: map[string]uint64{"inactive_file": 10, "anon": 90}},
				Blkio:    engine.BlkioStats{ServiceBytes: []engine.BlkioEntry{{Major: 8, Op: "read", Value: 1}, {Major: 8, Op: "write", Value: 2}}},
				Networks: map[string]engine.NetworkStats{"eth0": {RxBytes: 10, TxBytes: 20, RxPackets: 1, TxPackets: 2}},
			},
			check: func(t *testing.T, rec *container.StatsResponse, raw map[string]any) {
				assert.Check(t, rec.CPUStats.CPUUsage.PercpuUsage == nil)
				_, hasPercpu := raw["cpu_stats"].(map[string]any)["cpu_usage"].(map[string]any)["percpu_usage"]
				assert.Check(t, !hasPercpu, "percpu_usage is left out on v2")
				assert.Check(t, is.Equal(rec.MemoryStats.Failcnt, uint64(1)))
				assert.Check(t, is.DeepEqual(rec.Networks, map[string]container.NetworkStats{"eth0": {RxBytes: 10, TxBytes: 20, RxPackets: 1, TxPackets: 2}}))
				assert.Check(t, is.Nil(raw["blkio_stats"].(map[string]any)["io_serviced_recursive"]))
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := dockerStats(&tc.in)
			assert.Check(t, rec.Read.Equal(read))
			b, err := json.Marshal(rec)
			assert.NilError(t, err)
			var raw map[string]any
			assert.NilError(t, json.Unmarshal(b, &raw))
			tc.check(t, rec, raw)
		})
	}
}
