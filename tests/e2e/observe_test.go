package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	units "github.com/docker/go-units"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
)

// docker top lists the container's processes, with ps's default columns
// and with -o; the PID column holds host PIDs (the container's init is
// State.Pid).
func TestTop(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sleep", "1000").Assert(t, icmd.Success)
	pid := inspect(t, d, "{{.State.Pid}}", name)

	res := d.Cmd(t, "top", name)
	res.Assert(t, icmd.Success)
	out := lines(res.Stdout())
	assert.Assert(t, len(out) >= 2, res.Stdout())
	assert.Check(t, is.DeepEqual(strings.Fields(out[0]), []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}))
	assert.Check(t, is.Len(out, 2), "only the container's process: %s", res.Stdout())
	row := strings.Fields(out[1])
	assert.Assert(t, len(row) >= 8, out[1])
	assert.Check(t, is.Equal(row[1], pid))
	assert.Check(t, is.Equal(strings.Join(row[7:], " "), "sleep 1000"))

	res = d.Cmd(t, "top", name, "-o", "pid,comm")
	res.Assert(t, icmd.Success)
	out = lines(res.Stdout())
	assert.Assert(t, is.Len(out, 2), res.Stdout())
	assert.Check(t, is.DeepEqual(strings.Fields(out[0]), []string{"PID", "COMMAND"}))
	assert.Check(t, is.DeepEqual(strings.Fields(out[1]), []string{pid, "sleep"}))

	// A second process started inside shows up too.
	d.Cmd(t, "rm", "-f", name).Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 1001 & sleep 1002").Assert(t, icmd.Success)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("top", name, "-o", "pid,args")
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("docker top: %s", res.Combined()))
		}
		if !strings.Contains(res.Stdout(), "sleep 1001") || !strings.Contains(res.Stdout(), "sleep 1002") {
			return poll.Continue("top shows %q", res.Stdout())
		}
		return poll.Success()
	}, poll.WithTimeout(10*time.Second), poll.WithDelay(100*time.Millisecond))
}

// docker top on a stopped container is dockerd's 409, and bad ps options
// are ps's own error.
func TestTopErrors(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "create", "--name", name, "busybox", "sleep", "1000").Assert(t, icmd.Success)
	id := inspect(t, d, "{{.Id}}", name)
	res := failFast(t, d, "top", name)
	assertExit(t, res, 1)
	// Current dockerd: "container X is not running"; 20.10 capitalised it.
	assert.Check(t, is.Contains(strings.ToLower(res.Stderr()), "error response from daemon: container "+id+" is not running"))

	d.Cmd(t, "start", name).Assert(t, icmd.Success)
	res = failFast(t, d, "top", name, "-o", "nosuchcolumn")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "Error response from daemon: ps: error: unknown user-defined format specifier"))
}

// docker stats --no-stream shows real CPU and memory: a busy loop uses more
// than 10% CPU and ~20 MiB put in the container's /dev/shm (tmpfs, charged
// to its memory cgroup) shows as at least 10 MiB.
func TestStatsNoStream(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "-d", "--name", name, "busybox", "sh", "-c",
		"dd if=/dev/zero of=/dev/shm/fill bs=1M count=20 2>/dev/null; while :; do :; done").Assert(t, icmd.Success)

	var last string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := d.Run("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", name)
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("docker stats: %s", res.Combined()))
		}
		last = strings.TrimSpace(res.Stdout())
		f := strings.Split(last, "|")
		if len(f) != 4 {
			return poll.Error(fmt.Errorf("unexpected output %q", last))
		}
		cpu, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		if err != nil {
			return poll.Error(fmt.Errorf("CPU %% in %q: %w", last, err))
		}
		usage, limit, ok := strings.Cut(f[2], " / ")
		if !ok {
			return poll.Error(fmt.Errorf("MemUsage in %q", last))
		}
		used, err1 := units.RAMInBytes(usage)
		lim, err2 := units.RAMInBytes(limit)
		if err1 != nil || err2 != nil {
			return poll.Error(fmt.Errorf("MemUsage in %q: %v %v", last, err1, err2))
		}
		if f[0] != name || lim <= 0 || f[3] == "0" {
			return poll.Error(fmt.Errorf("name, limit or PIDs wrong in %q", last))
		}
		if cpu <= 10 || used < 10<<20 {
			return poll.Continue("want CPU > 10%% and memory >= 10MiB, got %q", last)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
	t.Logf("docker stats: %s", last)

	// Without names: every running container, ours among them.
	res := d.Cmd(t, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), name+" "))
}

// docker system df and -v report the images, the containers with their
// writable layers, and (empty) volumes and build cache.
func TestDiskUsage(t *testing.T) {
	d := setup(t)
	name := uniqueName(t)
	removeContainers(t, d, name)
	d.Cmd(t, "run", "--name", name, "busybox", "sh", "-c", "dd if=/dev/zero of=/blob bs=1024 count=300 2>/dev/null").Assert(t, icmd.Success)

	res := d.Cmd(t, "system", "df")
	res.Assert(t, icmd.Success)
	out := lines(res.Stdout())
	assert.Assert(t, len(out) >= 4, res.Stdout())
	assert.Check(t, is.DeepEqual(strings.Fields(out[0]), []string{"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"}))
	assert.Check(t, strings.HasPrefix(out[1], "Images "), out[1])
	assert.Check(t, strings.HasPrefix(out[2], "Containers "), out[2])
	assert.Check(t, strings.HasPrefix(out[3], "Local Volumes "), out[3])

	rows := map[string][]string{}
	res = d.Cmd(t, "system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}")
	res.Assert(t, icmd.Success)
	for _, l := range lines(res.Stdout()) {
		f := strings.Split(l, "|")
		assert.Assert(t, is.Len(f, 5), l)
		rows[f[0]] = f[1:]
	}
	t.Logf("rows: %v", rows)
	for _, typ := range []string{"Images", "Containers"} {
		r, ok := rows[typ]
		assert.Assert(t, ok, "no %s row in %v", typ, rows)
		n, err := strconv.Atoi(r[0])
		assert.NilError(t, err)
		assert.Check(t, n >= 1, "%s total %s", typ, r[0])
		size, err := units.FromHumanSize(r[2])
		assert.NilError(t, err)
		assert.Check(t, size > 0, "%s size %s", typ, r[2])
		assert.Check(t, !strings.Contains(r[3], "N/A"), "%s reclaimable %s", typ, r[3])
	}
	// Our exited container's 300 KiB are reclaimable.
	reclaim, _, _ := strings.Cut(rows["Containers"][3], " ")
	rsize, err := units.FromHumanSize(reclaim)
	assert.NilError(t, err)
	assert.Check(t, rsize >= 300*1000, "containers reclaimable %s", rows["Containers"][3])

	res = d.Cmd(t, "system", "df", "-v")
	res.Assert(t, icmd.Success)
	v := res.Stdout()
	assert.Check(t, is.Contains(v, "Images space usage:"))
	assert.Check(t, is.Contains(v, "Containers space usage:"))
	assert.Check(t, is.Contains(v, "Local Volumes space usage:"))
	assert.Check(t, is.Contains(v, "Build cache usage: 0B"))
	var busybox, ctr []string
	for _, l := range lines(v) {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "busybox" && len(f) >= 2 && f[1] == "latest" {
			busybox = f
		}
		if len(f) > 0 && f[len(f)-1] == name {
			ctr = f
		}
	}
	// REPOSITORY TAG IMAGE-ID CREATED... SIZE SHARED-SIZE UNIQUE-SIZE CONTAINERS
	assert.Assert(t, busybox != nil, "no busybox row in:\n%s", v)
	containers, err := strconv.Atoi(busybox[len(busybox)-1])
	assert.NilError(t, err)
	assert.Check(t, containers >= 1, "busybox row %v", busybox)
	assert.Check(t, ctr != nil, "no row for %s in:\n%s", name, v)
}

// docker container prune removes only the stopped containers that match
// its filters: label (all must match), label! (not all may match), until.
func TestContainerPrune(t *testing.T) {
	d := setup(t)
	tag := uniqueName(t)
	names := map[string]string{}
	for _, n := range []string{"plain", "keep", "running", "other"} {
		names[n] = tag + "-" + n
	}
	removeContainers(t, d, names["plain"], names["keep"], names["running"], names["other"])
	d.Cmd(t, "run", "--name", names["plain"], "--label", "test="+tag, "busybox", "true").Assert(t, icmd.Success)
	d.Cmd(t, "run", "--name", names["keep"], "--label", "test="+tag, "--label", "keep=1", "busybox", "true").Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", names["running"], "--label", "test="+tag, "busybox", "sleep", "1000").Assert(t, icmd.Success)
	d.Cmd(t, "run", "--name", names["other"], "--label", "test=other-"+tag, "busybox", "true").Assert(t, icmd.Success)
	ids := map[string]string{}
	for k, n := range names {
		ids[k] = inspect(t, d, "{{.Id}}", n)
	}
	exists := func(n string) bool { return d.Run("inspect", n).ExitCode == 0 }

	// Created just now: not before "until 1h ago".
	res := d.Cmd(t, "container", "prune", "-f", "--filter", "until=1h", "--filter", "label=test="+tag)
	res.Assert(t, icmd.Success)
	assert.Check(t, !strings.Contains(res.Stdout(), ids["plain"]), res.Stdout())
	assert.Check(t, exists(names["plain"]))

	res = d.Cmd(t, "container", "prune", "-f", "--filter", "label=test="+tag, "--filter", "label!=keep")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "Deleted Containers:\n"+ids["plain"]+"\n"))
	assert.Check(t, is.Contains(res.Stdout(), "Total reclaimed space:"))
	assert.Check(t, !exists(names["plain"]))
	for _, n := range []string{"keep", "running", "other"} {
		assert.Check(t, exists(names[n]), "%s was pruned", n)
	}

	res = d.Cmd(t, "container", "prune", "-f", "--filter", "label=test="+tag)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), ids["keep"]))
	assert.Check(t, !strings.Contains(res.Stdout(), ids["running"]), res.Stdout())
	assert.Check(t, !exists(names["keep"]))
	assert.Check(t, exists(names["running"]))
	assert.Check(t, exists(names["other"]))
}
