package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// busyContainer starts a busybox container that spins a CPU, with the
// OCI runtime given ("" = the daemon's default).
func (e env) busyContainer(t *testing.T, runtime ...string) (string, string) {
	t.Helper()
	var hc *container.HostConfig
	if len(runtime) > 0 && runtime[0] != "" {
		hc = &container.HostConfig{Runtime: runtime[0]}
	}
	id := e.create(t, container.Config{Cmd: []string{"sh", "-c", "while :; do :; done"}}, hc)
	e.start(t, id)
	return id, e.inspect(t, id).Name
}

func decodeStats(t *testing.T, b []byte) (container.StatsResponse, map[string]any) {
	t.Helper()
	var s container.StatsResponse
	assert.NilError(t, json.Unmarshal(b, &s), "%s", b)
	var raw map[string]any
	assert.NilError(t, json.Unmarshal(b, &raw))
	return s, raw
}

// GET /containers/{id}/stats?stream=0&one-shot=1 (API 1.41+): one sample at
// once, with the fields docker stats reads, and no previous sample. Under
// each runtime: hyperboxd defaults to crun and also has runc; the oracle
// has runc only.
func TestStatsOneShot(t *testing.T) {
	runtimes := []string{""}
	if !daemon.IsOracle() {
		runtimes = append(runtimes, "runc")
	}
	for _, rt := range runtimes {
		t.Run("runtime="+rt, func(t *testing.T) { testStatsOneShot(t, rt) })
	}
}

func testStatsOneShot(t *testing.T, runtime string) {
	e := setup(t)
	id, name := e.busyContainer(t, runtime)
	time.Sleep(300 * time.Millisecond) // let it use some CPU
	start := time.Now()
	r := e.do(t, http.MethodGet, "/containers/"+id+"/stats?stream=0&one-shot=1", nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	assert.Check(t, time.Since(start) < 900*time.Millisecond, "one-shot took %s", time.Since(start))
	assert.Check(t, is.Equal(r.Header.Get("Content-Type"), "application/json"))
	s, raw := decodeStats(t, r.body)
	assert.Check(t, is.Equal(s.ID, id))
	assert.Check(t, is.Equal(s.Name, name))
	assert.Check(t, time.Since(s.Read) < time.Minute, "read %s", s.Read)
	assert.Check(t, s.PreRead.IsZero(), "preread %s", s.PreRead)
	assert.Check(t, s.CPUStats.CPUUsage.TotalUsage > 0)
	assert.Check(t, s.CPUStats.SystemUsage > 0)
	assert.Check(t, s.CPUStats.OnlineCPUs >= 1)
	assert.Check(t, s.MemoryStats.Usage > 0)
	assert.Check(t, s.MemoryStats.Limit > 0)
	assert.Check(t, s.PidsStats.Current >= 1)
	// The key docker stats subtracts from usage: v1 or v2 flavour.
	_, v1 := s.MemoryStats.Stats["total_inactive_file"]
	_, v2 := s.MemoryStats.Stats["inactive_file"]
	assert.Check(t, v1 || v2, "memory stats %v", s.MemoryStats.Stats)
	for _, k := range []string{"read", "preread", "pids_stats", "blkio_stats", "num_procs", "cpu_stats", "precpu_stats", "memory_stats", "name", "id"} {
		_, ok := raw[k]
		assert.Check(t, ok, "no %q in %s", k, r.body)
	}
	cpu := raw["cpu_stats"].(map[string]any)
	for _, k := range []string{"cpu_usage", "system_cpu_usage", "online_cpus", "throttling_data"} {
		_, ok := cpu[k]
		assert.Check(t, ok, "no cpu_stats.%s", k)
	}
	// The container has a network namespace of its own and no interface
	// but loopback (no bridge networks yet; the oracle runs with
	// --bridge=none): no networks, as dockerd with --network none.
	if n, ok := raw["networks"]; ok {
		_, hasLo := n.(map[string]any)["lo"]
		assert.Check(t, !hasLo, "loopback reported: %v", n)
	}
}

// stream=0 without one-shot takes two samples a second apart: the first
// becomes precpu_stats, which is what makes docker stats --no-stream's
// CPU % non-zero.
func TestStatsPreviousSample(t *testing.T) {
	e := setup(t)
	id, _ := e.busyContainer(t)
	r := e.do(t, http.MethodGet, "/containers/"+id+"/stats?stream=0", nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	s, _ := decodeStats(t, r.body)
	gap := s.Read.Sub(s.PreRead)
	assert.Check(t, gap > 500*time.Millisecond && gap < 3*time.Second, "read %s preread %s", s.Read, s.PreRead)
	assert.Check(t, s.PreCPUStats.CPUUsage.TotalUsage > 0)
	assert.Check(t, s.CPUStats.CPUUsage.TotalUsage > s.PreCPUStats.CPUUsage.TotalUsage)
	assert.Check(t, s.CPUStats.SystemUsage > s.PreCPUStats.SystemUsage)
	// A spinning process uses well over 10% of a CPU.
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage - s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage - s.PreCPUStats.SystemUsage)
	pct := cpuDelta / sysDelta * float64(s.CPUStats.OnlineCPUs) * 100
	assert.Check(t, pct > 10, "CPU %.1f%%", pct)
}

// stream=1: headers at once, then one complete JSON record per line about
// every second, each carrying the previous one as its Pre* sample.
func TestStatsStream(t *testing.T) {
	e := setup(t)
	id, name := e.busyContainer(t)
	c := e.dial(t)
	req := c.send(t, http.MethodGet, "/containers/"+id+"/stats?stream=1")
	resp := c.readHeaders(t, req, 5*time.Second)
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusOK))
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	dec := json.NewDecoder(resp.Body)
	var recs []container.StatsResponse
	var at []time.Time
	for range 3 {
		var raw json.RawMessage
		assert.NilError(t, dec.Decode(&raw))
		at = append(at, time.Now())
		s, _ := decodeStats(t, raw)
		recs = append(recs, s)
	}
	for i, s := range recs {
		assert.Check(t, is.Equal(s.ID, id))
		assert.Check(t, is.Equal(s.Name, name))
		assert.Check(t, s.CPUStats.CPUUsage.TotalUsage > 0)
		assert.Check(t, s.MemoryStats.Usage > 0)
		if i == 0 {
			continue
		}
		gap := s.Read.Sub(recs[i-1].Read)
		assert.Check(t, gap > 500*time.Millisecond && gap < 2500*time.Millisecond, "record %d read %s after the previous", i, gap)
		assert.Check(t, at[i].Sub(at[i-1]) > 400*time.Millisecond, "record %d arrived %s after the previous", i, at[i].Sub(at[i-1]))
		assert.Check(t, s.PreRead.Equal(recs[i-1].Read), "preread %s, previous read %s", s.PreRead, recs[i-1].Read)
		assert.Check(t, is.Equal(s.PreCPUStats.CPUUsage.TotalUsage, recs[i-1].CPUStats.CPUUsage.TotalUsage))
	}
}

// A container that is not running: one zeroed record at once (stream=0),
// zeroed records in a stream; unknown containers are a 404.
func TestStatsNotRunning(t *testing.T) {
	e := setup(t)
	id := e.create(t, container.Config{Cmd: []string{"true"}}, nil)
	name := e.inspect(t, id).Name
	for _, q := range []string{"stream=0", "stream=0&one-shot=1"} {
		r := e.do(t, http.MethodGet, "/containers/"+id+"/stats?"+q, nil)
		assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
		s, _ := decodeStats(t, r.body)
		assert.Check(t, is.Equal(s.ID, id))
		assert.Check(t, is.Equal(s.Name, name))
		assert.Check(t, s.Read.IsZero())
		assert.Check(t, is.Equal(s.CPUStats.CPUUsage.TotalUsage, uint64(0)))
		assert.Check(t, is.Equal(s.MemoryStats.Usage, uint64(0)))
		assert.Check(t, is.Equal(s.PidsStats.Current, uint64(0)))
	}

	c := e.dial(t)
	req := c.send(t, http.MethodGet, "/containers/"+id+"/stats")
	resp := c.readHeaders(t, req, 5*time.Second)
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusOK))
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	var s container.StatsResponse
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&s))
	assert.Check(t, is.Equal(s.ID, id))
	assert.Check(t, s.Read.IsZero())

	r := e.do(t, http.MethodGet, "/containers/nosuch/stats?stream=0", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusNotFound))
	assert.Check(t, is.Equal(r.message(t), "No such container: nosuch"))
}

// stream=1&one-shot=1: dockerd before 29 refused the pair (400, "cannot
// have stream=true and one-shot=true"); current dockerd ignores one-shot
// when streaming. hyperbox is held to current Docker.
func TestStatsStreamOneShot(t *testing.T) {
	e := setup(t)
	id, _ := e.busyContainer(t)
	c := e.dial(t)
	req := c.send(t, http.MethodGet, "/containers/"+id+"/stats?stream=1&one-shot=1")
	resp := c.readHeaders(t, req, 5*time.Second)
	if daemon.IsOracle() && resp.StatusCode == http.StatusBadRequest {
		t.Log("dockerd 20.10: stream with one-shot is a 400")
		return
	}
	assert.Assert(t, is.Equal(resp.StatusCode, http.StatusOK))
	assert.NilError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	var s container.StatsResponse
	assert.NilError(t, json.NewDecoder(resp.Body).Decode(&s))
	assert.Check(t, is.Equal(s.ID, id))
}

// GET /containers/{id}/top: 409 when not running, ps's error as a 500.
func TestTopAPI(t *testing.T) {
	e := setup(t)
	id := e.create(t, container.Config{Cmd: []string{"sleep", "1000"}}, nil)
	r := e.do(t, http.MethodGet, "/containers/"+id+"/top", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusConflict))
	// Current dockerd: "container X is not running"; 20.10 capitalised it.
	msg := r.message(t)
	if daemon.IsOracle() {
		msg = strings.ToLower(msg[:1]) + msg[1:]
	}
	assert.Check(t, is.Equal(msg, "container "+id+" is not running"))

	e.start(t, id)
	r = e.do(t, http.MethodGet, "/containers/"+id+"/top?ps_args="+url.QueryEscape("-o pid,args"), nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	var top container.TopResponse
	assert.NilError(t, json.Unmarshal(r.body, &top))
	assert.Check(t, is.DeepEqual(top.Titles, []string{"PID", "COMMAND"}))
	assert.Assert(t, is.Len(top.Processes, 1))
	assert.Check(t, is.DeepEqual(top.Processes[0][1], "sleep 1000"))

	r = e.do(t, http.MethodGet, "/containers/"+id+"/top?ps_args="+url.QueryEscape("-o nosuchcolumn"), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusInternalServerError))
	assert.Check(t, strings.HasPrefix(r.message(t), "ps: "), r.message(t))

	r = e.do(t, http.MethodGet, "/containers/"+id+"/top?ps_args="+url.QueryEscape("-o pid,user=PID"), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusInternalServerError))
	assert.Check(t, is.Equal(r.message(t), `specifying "pid,user=PID" is not allowed`))
}

// GET /system/df in the shape docker system df reads (API < 1.52).
func TestDiskUsageAPI(t *testing.T) {
	e := setup(t)
	id := e.create(t, container.Config{Cmd: []string{"sh", "-c", "dd if=/dev/zero of=/blob bs=1024 count=100 2>/dev/null"}}, nil)
	e.start(t, id)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if e.inspect(t, id).State.Running {
			return poll.Continue("still running")
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))

	r := e.do(t, http.MethodGet, "/v1.41/system/df", nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	var du struct {
		LayersSize int64
		Images     []struct {
			ID         string `json:"Id"`
			RepoTags   []string
			Size       int64
			SharedSize int64
			Containers int64
		}
		Containers []container.Summary
		Volumes    []any
		BuildCache []any
	}
	assert.NilError(t, json.Unmarshal(r.body, &du))
	var raw map[string]json.RawMessage
	assert.NilError(t, json.Unmarshal(r.body, &raw))
	assert.Check(t, du.LayersSize > 0)
	var busybox bool
	for _, img := range du.Images {
		if len(img.RepoTags) > 0 && img.RepoTags[0] == "busybox:latest" {
			busybox = true
			assert.Check(t, img.Size > 0)
			assert.Check(t, img.SharedSize >= 0 && img.SharedSize <= img.Size, "shared %d size %d", img.SharedSize, img.Size)
			assert.Check(t, img.Containers >= 1)
			assert.Check(t, du.LayersSize >= img.Size-img.SharedSize)
		}
	}
	assert.Check(t, busybox, "no busybox in %s", r.body)
	var ours *container.Summary
	for i := range du.Containers {
		if du.Containers[i].ID == id {
			ours = &du.Containers[i]
		}
	}
	assert.Assert(t, ours != nil, "container %s missing", id)
	assert.Check(t, ours.SizeRw >= 100*1024, "SizeRw %d", ours.SizeRw)
	assert.Check(t, ours.SizeRootFs > ours.SizeRw)
	// Current dockerd never sends null lists below API 1.52; dockerd 20.10
	// sent null for no volumes and no build cache.
	for _, k := range []string{"Volumes", "BuildCache"} {
		if daemon.IsOracle() && string(raw[k]) == "null" {
			continue
		}
		assert.Check(t, is.Equal(string(raw[k]), "[]"), k)
	}
}

// API 1.52 added per-type usage objects next to the old fields, which
// verbose drops; ?type= (1.42+) picks types. dockerd 20.10 speaks 1.41 only.
func TestDiskUsageAPIVersions(t *testing.T) {
	e := setup(t)
	maxVersion, _ := e.apiVersions(t)
	if parseVersion(t, maxVersion).less(apiVersion{1, 52}) {
		t.Skipf("daemon API %s predates 1.52", maxVersion)
	}
	keys := func(path string) map[string]json.RawMessage {
		r := e.do(t, http.MethodGet, path, nil)
		assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
		var m map[string]json.RawMessage
		assert.NilError(t, json.Unmarshal(r.body, &m))
		return m
	}
	m := keys("/v1.52/system/df")
	for _, k := range []string{"LayersSize", "Images", "Containers", "Volumes", "BuildCache", "ImageUsage", "ContainerUsage", "VolumeUsage", "BuildCacheUsage"} {
		_, ok := m[k]
		assert.Check(t, ok, "no %s", k)
	}
	var iu struct {
		TotalCount, ActiveCount, TotalSize int64
		Items                              []any
	}
	assert.NilError(t, json.Unmarshal(m["ImageUsage"], &iu))
	assert.Check(t, iu.TotalCount >= 1 && iu.TotalSize > 0)
	assert.Check(t, iu.Items == nil, "items only with verbose")

	m = keys("/v1.52/system/df?verbose=1")
	_, ok := m["LayersSize"]
	assert.Check(t, !ok, "legacy fields with verbose")
	assert.NilError(t, json.Unmarshal(m["ImageUsage"], &iu))
	assert.Check(t, len(iu.Items) >= 1)

	m = keys("/v1.44/system/df?type=container")
	_, hasImages := m["Images"]
	_, hasContainers := m["Containers"]
	assert.Check(t, !hasImages && hasContainers, "keys %v", m)

	r := e.do(t, http.MethodGet, "/v1.44/system/df?type=nosuch", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
	assert.Check(t, is.Equal(r.message(t), "unknown object type: nosuch"))
}

// POST /containers/prune: filters, the report, and the errors.
func TestPruneAPI(t *testing.T) {
	e := setup(t)
	tag := uniqueName(t)
	labels := map[string]string{"test": tag}
	big := e.create(t, container.Config{Labels: labels, Cmd: []string{"sh", "-c", "dd if=/dev/zero of=/blob bs=1024 count=200 2>/dev/null"}}, nil)
	e.start(t, big)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if e.inspect(t, big).State.Running {
			return poll.Continue("still running")
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second))
	created := e.create(t, container.Config{Labels: labels, Cmd: []string{"true"}}, nil)

	prune := func(filters string) (int, container.PruneReport, response) {
		r := e.do(t, http.MethodPost, "/containers/prune?filters="+url.QueryEscape(filters), nil)
		var rep container.PruneReport
		if r.StatusCode == http.StatusOK {
			assert.NilError(t, json.Unmarshal(r.body, &rep))
		}
		return r.StatusCode, rep, r
	}

	// until in the past (a timestamp): both were created after it.
	past := time.Now().Add(-time.Hour).Unix()
	code, rep, _ := prune(`{"label":{"test=` + tag + `":true},"until":{"` + strconv.FormatInt(past, 10) + `":true}}`)
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.Len(rep.ContainersDeleted, 0))

	// until in the future (RFC 3339): both go; created counts as stopped.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, rep, _ = prune(`{"label":["test=` + tag + `"],"until":["` + future + `"]}`)
	assert.Check(t, is.Equal(code, http.StatusOK))
	assert.Check(t, is.DeepEqual(sortedIDs(rep.ContainersDeleted), sortedIDs([]string{big, created})))
	assert.Check(t, rep.SpaceReclaimed >= 200*1024, "reclaimed %d", rep.SpaceReclaimed)

	code, _, r := prune(`{"status":["exited"]}`)
	assert.Check(t, is.Equal(code, http.StatusBadRequest))
	// Current dockerd: "invalid filter"; 20.10 capitalised it.
	assert.Check(t, is.Equal(strings.ToLower(r.message(t)), "invalid filter 'status'"))

	code, _, r = prune(`{"until":["yesterday"]}`)
	// Current dockerd: 400; dockerd 20.10 let the parse error through as a 500.
	if daemon.IsOracle() && code == http.StatusInternalServerError {
		t.Log("dockerd 20.10: unparseable until is a 500")
	} else {
		assert.Check(t, is.Equal(code, http.StatusBadRequest))
	}
	assert.Check(t, is.Contains(r.message(t), "yesterday"))
}
