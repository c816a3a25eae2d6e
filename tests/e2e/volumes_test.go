package e2e

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"

	"github.com/hyperbox/hyperbox/tests/testutil/busybox"
	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// removeVolumes force-removes the named volumes when the test ends (after
// the containers, whose cleanups were registered later and run first).
func removeVolumes(t *testing.T, d *daemon.Daemon, names ...string) {
	t.Cleanup(func() {
		d.Run(append([]string{"volume", "rm", "-f"}, names...)...)
	})
}

// volumeNames lists `docker volume ls -q` with filters, sorted.
func volumeNames(t *testing.T, d *daemon.Daemon, filters ...string) []string {
	t.Helper()
	args := []string{"volume", "ls", "-q"}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	res := d.Cmd(t, args...)
	res.Assert(t, icmd.Success)
	out := lines(res.Stdout())
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// volumeMounts is a container's inspect Mounts.
type volumeMount struct {
	Type, Name, Source, Destination, Driver, Mode, Propagation string
	RW                                                         bool
}

func mountsOf(t *testing.T, d *daemon.Daemon, name string) []volumeMount {
	t.Helper()
	var ms []volumeMount
	assert.NilError(t, json.Unmarshal([]byte(inspect(t, d, "{{json .Mounts}}", name)), &ms))
	sort.Slice(ms, func(i, j int) bool { return ms[i].Destination < ms[j].Destination })
	return ms
}

// volumeImage imports an image whose VOLUMEs are /data (holding
// sub/file, owned 123:456 with mode 0750) and /evil (a symlink that climbs
// out with ".." to /etc), with the busybox applets the tests use.
func volumeImage(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	bin, err := os.ReadFile(busybox.BinaryPath())
	assert.NilError(t, err)
	archive := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(archive)
	assert.NilError(t, err)
	tw := tar.NewWriter(f)
	mtime := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	add := func(h *tar.Header, body string) {
		h.ModTime, h.Size = mtime, int64(len(body))
		assert.NilError(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(body))
		assert.NilError(t, err)
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, string(bin))
	for _, applet := range []string{"sh", "cat", "ls", "stat", "touch", "echo", "grep", "test", "find", "sleep", "true"} {
		add(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, "")
	}
	add(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "etc/marker", Typeflag: tar.TypeReg, Mode: 0o644}, "image-etc\n")
	add(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 123, Gid: 456}, "")
	add(&tar.Header{Name: "data/sub/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "data/sub/file", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 7, Gid: 8}, "from-image\n")
	add(&tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "../../../../../etc", Mode: 0o777}, "")
	assert.NilError(t, tw.Close())
	assert.NilError(t, f.Close())

	ref := uniqueName(t) + ":vol"
	d.Cmd(t, "import", "--change", "VOLUME /data /evil", "--change", "ENV PATH=/bin", archive, ref).Assert(t, icmd.Success)
	removeImages(t, d, ref)
	return ref
}

// Named volumes: create (twice is fine), inspect, ls with each filter, rm.
func TestVolumeCreateInspectListRemove(t *testing.T) {
	d := setup(t)
	name, label := uniqueName(t), "hbx.test="+uniqueName(t)
	removeVolumes(t, d, name)

	d.Cmd(t, "volume", "create", "--label", label, "--label", "other=1", name).Assert(t, icmd.Expected{Out: name})
	// Creating it again answers the existing volume.
	d.Cmd(t, "volume", "create", name).Assert(t, icmd.Expected{Out: name})

	res := d.Cmd(t, "volume", "inspect", name)
	res.Assert(t, icmd.Success)
	var vols []struct {
		Name, Driver, Mountpoint, Scope, CreatedAt string
		Labels                                     map[string]string
	}
	assert.NilError(t, json.Unmarshal([]byte(res.Stdout()), &vols))
	assert.Assert(t, is.Len(vols, 1))
	v := vols[0]
	assert.Check(t, is.Equal(v.Name, name))
	assert.Check(t, is.Equal(v.Driver, "local"))
	assert.Check(t, is.Equal(v.Scope, "local"))
	assert.Check(t, is.Equal(v.Mountpoint, filepath.Join(d.DataRoot(), "volumes", name, "_data")))
	assert.Check(t, is.DeepEqual(v.Labels, map[string]string{"hbx.test": strings.TrimPrefix(label, "hbx.test="), "other": "1"}))
	created, err := time.Parse(time.RFC3339, v.CreatedAt)
	assert.Check(t, err, "CreatedAt must be RFC 3339 (Ryuk skips volumes otherwise)")
	assert.Check(t, time.Since(created) < time.Hour && time.Until(created) < time.Minute, "CreatedAt %s", v.CreatedAt)
	fi, err := os.Stat(v.Mountpoint)
	assert.NilError(t, err)
	assert.Check(t, fi.IsDir())

	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label), []string{name}))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label, "label=other=1"), []string{name}))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label, "label=other=2"), []string{}))
	// name is a regular expression, so a part of the name matches.
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "name="+name[3:len(name)-3]), []string{name}))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label, "driver=local"), []string{name}))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label, "dangling=true"), []string{name}))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label, "dangling=false"), []string{}))
	res = d.Cmd(t, "volume", "ls", "--filter", "dangling=maybe")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(strings.ToLower(res.Stderr()), "invalid filter 'dangling=[maybe]'"))
	res = d.Cmd(t, "volume", "ls", "--filter", "bogus=1")
	assertExit(t, res, 1)
	// 20.10 says "Invalid filter", current Docker and hyperbox "invalid filter".
	assert.Check(t, is.Contains(strings.ToLower(res.Stderr()), "invalid filter 'bogus'"))

	d.Cmd(t, "volume", "rm", name).Assert(t, icmd.Expected{Out: name})
	_, err = os.Stat(filepath.Dir(v.Mountpoint))
	assert.Check(t, os.IsNotExist(err), "volume directory left behind")
	res = d.Cmd(t, "volume", "inspect", name)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "get "+name+": no such volume"))
	res = d.Cmd(t, "volume", "rm", name)
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "get "+name+": no such volume"))
	d.Cmd(t, "volume", "rm", "-f", name).Assert(t, icmd.Success)
}

// Data written through a named volume outlives the container and is seen
// by the next one; a named volume created by `run -v` survives `rm -v`.
func TestVolumeDataSurvivesContainer(t *testing.T) {
	d := setup(t)
	vol, writer := uniqueName(t), uniqueName(t)
	removeVolumes(t, d, vol)
	removeContainers(t, d, writer)

	d.Cmd(t, "run", "--name", writer, "-v", vol+":/data", "busybox", "sh", "-c", "echo persisted > /data/f").Assert(t, icmd.Success)
	d.Cmd(t, "rm", "-v", writer).Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "name=^"+vol+"$"), []string{vol}))

	res := d.Cmd(t, "run", "--rm", "-v", vol+":/again:ro", "busybox", "cat", "/again/f")
	res.Assert(t, icmd.Expected{Out: "persisted"})
}

// An image's VOLUME becomes an anonymous volume filled with the image's
// files at that path (owner and mode included); a named volume mounted
// there gets them too, unless nocopy; `docker rm -v` removes the anonymous
// volume only. A VOLUME that is a symlink climbing out with ".." stays in
// the image.
func TestVolumeFromImageVolume(t *testing.T) {
	d := setup(t)
	img := volumeImage(t, d)
	c1, named, empty := uniqueName(t), uniqueName(t), uniqueName(t)
	removeContainers(t, d, c1)
	removeVolumes(t, d, named, empty)

	res := d.Cmd(t, "run", "--name", c1, img, "sh", "-c",
		"cat /data/sub/file; stat -c '%u:%g %a' /data /data/sub/file; cat /evil/marker")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), "from-image\n123:456 750\n7:8 640\nimage-etc\n"))
	ms := mountsOf(t, d, c1)
	assert.Assert(t, is.Len(ms, 2), "%+v", ms)
	for _, m := range ms {
		assert.Check(t, is.Equal(m.Type, "volume"))
		assert.Check(t, is.Len(m.Name, 64), "anonymous volumes get a generated name")
		assert.Check(t, is.Equal(m.Driver, "local"))
		assert.Check(t, m.RW)
		assert.Check(t, is.Equal(m.Source, filepath.Join(d.DataRoot(), "volumes", m.Name, "_data")))
	}
	assert.Check(t, is.Equal(ms[0].Destination, "/data"))
	// The /evil volume holds the image's /etc, not the host's (the hosts
	// files the runtime mounts there leave empty files behind).
	_, err := os.Stat(filepath.Join(ms[1].Source, "marker"))
	assert.Check(t, err)
	_, err = os.Stat(filepath.Join(ms[1].Source, "passwd"))
	assert.Check(t, os.IsNotExist(err), "host files copied into a volume")
	assert.Check(t, is.Equal(inspect(t, d, "{{json .Config.Volumes}}", c1), `{"/data":{},"/evil":{}}`))

	// The anonymous volume is the container's own: rm -v removes it.
	anon := ms[0].Name
	d.Cmd(t, "rm", "-v", c1).Assert(t, icmd.Success)
	res = d.Cmd(t, "volume", "inspect", anon)
	assertExit(t, res, 1)

	res = d.Cmd(t, "run", "--rm", "-v", named+":/data", img, "cat", "/data/sub/file")
	res.Assert(t, icmd.Expected{Out: "from-image"})
	res = d.Cmd(t, "run", "--rm", "--mount", "type=volume,src="+empty+",dst=/data,volume-nocopy", img, "ls", "-A", "/data")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""), "nocopy leaves the volume empty")
	// Both named volumes stay after --rm.
	assert.Check(t, is.Len(volumeNames(t, d, "name=^"+named+"$"), 1))
	assert.Check(t, is.Len(volumeNames(t, d, "name=^"+empty+"$"), 1))
}

// -v /host:/ctr:ro is read-only, rw binds write through to the host, and a
// missing host directory is created for -v.
func TestBindMountReadOnly(t *testing.T) {
	d := setup(t)
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("host-file\n"), 0o644))
	c := uniqueName(t)
	removeContainers(t, d, c)

	res := d.Cmd(t, "run", "--name", c, "-v", dir+":/x:ro", "busybox", "sh", "-c", "cat /x/f; touch /x/new")
	assertExit(t, res, 1)
	assert.Check(t, is.Equal(res.Stdout(), "host-file\n"))
	assert.Check(t, is.Contains(res.Stderr(), "Read-only file system"))
	_, err := os.Stat(filepath.Join(dir, "new"))
	assert.Check(t, os.IsNotExist(err))
	assert.Check(t, is.DeepEqual(mountsOf(t, d, c), []volumeMount{
		{Type: "bind", Source: dir, Destination: "/x", Mode: "ro", RW: false, Propagation: "rprivate"},
	}))

	missing := filepath.Join(t.TempDir(), "made", "by", "daemon")
	d.Cmd(t, "run", "--rm", "-v", dir+":/x", "-v", missing+":/m", "busybox", "sh", "-c", "echo w > /x/new; echo m > /m/f").Assert(t, icmd.Success)
	data, err := os.ReadFile(filepath.Join(dir, "new"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "w\n"))
	fi, err := os.Stat(missing)
	assert.NilError(t, err, "-v creates a missing host directory")
	assert.Check(t, fi.IsDir())
}

// --mount type=bind refuses a missing source with dockerd's message, and
// destinations that climb out with ".." are refused or stay inside.
func TestMountBindMissingSource(t *testing.T) {
	d := setup(t)
	missing := filepath.Join(t.TempDir(), "nope")
	res := failFast(t, d, "run", "--rm", "--mount", "type=bind,src="+missing+",dst=/x", "busybox", "true")
	assertExit(t, res, 125)
	assert.Check(t, is.Contains(res.Stderr(), `invalid mount config for type "bind": bind source path does not exist: `+missing))
	_, err := os.Stat(missing)
	assert.Check(t, os.IsNotExist(err), "--mount must not create the source")

	res = failFast(t, d, "run", "--rm", "-v", t.TempDir()+":/../../..", "busybox", "true")
	assertExit(t, res, 125)
	assert.Check(t, is.Contains(res.Stderr(), "destination can't be '/'"))
	res = failFast(t, d, "volume", "create", "../../etc")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "includes invalid characters for a local volume name"))
}

// --mount type=tmpfs with size and mode, read-only tmpfs, and its inspect
// entry.
func TestMountTmpfs(t *testing.T) {
	d := setup(t)
	c := uniqueName(t)
	removeContainers(t, d, c)
	res := d.Cmd(t, "run", "--name", c, "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
		"--mount", "type=tmpfs,dst=/ro,readonly", "busybox", "sh", "-c",
		"grep ' /t ' /proc/mounts; stat -c %a /t; echo x > /t/f && cat /t/f; touch /ro/f")
	assertExit(t, res, 1)
	out := res.Stdout()
	assert.Check(t, is.Contains(out, "tmpfs /t tmpfs "))
	assert.Check(t, is.Contains(out, "size=1024k"))
	assert.Check(t, is.Contains(out, "noexec"))
	assert.Check(t, is.Contains(out, "\n1770\nx\n"))
	assert.Check(t, is.Contains(res.Stderr(), "Read-only file system"))
	assert.Check(t, is.DeepEqual(mountsOf(t, d, c), []volumeMount{
		{Type: "tmpfs", Destination: "/ro", RW: false},
		{Type: "tmpfs", Destination: "/t", RW: true},
	}))
}

// --volumes-from copies another container's volumes and binds, read-only
// with :ro.
func TestVolumesFrom(t *testing.T) {
	d := setup(t)
	vol, src, ro, rw := uniqueName(t), uniqueName(t), uniqueName(t), uniqueName(t)
	dir := t.TempDir()
	removeContainers(t, d, src, ro, rw)
	removeVolumes(t, d, vol)

	d.Cmd(t, "create", "--name", src, "-v", vol+":/data", "-v", dir+":/host", "busybox", "true").Assert(t, icmd.Success)
	d.Cmd(t, "run", "--name", rw, "--volumes-from", src, "busybox", "sh", "-c", "echo shared > /data/f; echo h > /host/h").Assert(t, icmd.Success)
	res := d.Cmd(t, "run", "--name", ro, "--volumes-from", src+":ro", "busybox", "sh", "-c", "cat /data/f /host/h; touch /data/g")
	assertExit(t, res, 1)
	assert.Check(t, is.Equal(res.Stdout(), "shared\nh\n"))
	assert.Check(t, is.Contains(res.Stderr(), "Read-only file system"))

	ms := mountsOf(t, d, ro)
	assert.Assert(t, is.Len(ms, 2), "%+v", ms)
	assert.Check(t, is.DeepEqual(ms[0], volumeMount{Type: "volume", Name: vol, Source: filepath.Join(d.DataRoot(), "volumes", vol, "_data"),
		Destination: "/data", Driver: "local", RW: false}))
	assert.Check(t, is.DeepEqual(ms[1], volumeMount{Type: "bind", Source: dir, Destination: "/host", RW: false, Propagation: "rprivate"}))

	res = failFast(t, d, "create", "--volumes-from", "nosuch-"+vol, "busybox", "true")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "No such container: nosuch-"+vol))
}

// docker rm -v removes the container's anonymous volumes, never named ones.
func TestVolumeRmAnonymousOnly(t *testing.T) {
	d := setup(t)
	c, named := uniqueName(t), uniqueName(t)
	removeContainers(t, d, c)
	removeVolumes(t, d, named)
	d.Cmd(t, "create", "--name", c, "-v", "/anon", "-v", named+":/named", "busybox", "true").Assert(t, icmd.Success)
	ms := mountsOf(t, d, c)
	assert.Assert(t, is.Len(ms, 2), "%+v", ms)
	anon := ms[0].Name
	assert.Check(t, is.Equal(ms[0].Destination, "/anon"))
	assert.Check(t, is.Len(anon, 64))
	// Docker 23+ labels anonymous volumes; 20.10 did not.
	if !daemon.IsOracle() {
		assert.Check(t, is.Equal(strings.TrimSpace(d.Cmd(t, "volume", "inspect", "--format", "{{json .Labels}}", anon).Stdout()),
			`{"com.docker.volume.anonymous":""}`))
	}
	assert.Check(t, is.DeepEqual(ms[1], volumeMount{Type: "volume", Name: named, Source: filepath.Join(d.DataRoot(), "volumes", named, "_data"),
		Destination: "/named", Driver: "local", Mode: "z", RW: true}))

	// docker ps shows the mounts and filters by volume name or destination.
	res := d.Cmd(t, "ps", "-a", "--filter", "volume="+named, "--format", "{{.Names}}")
	res.Assert(t, icmd.Expected{Out: c})
	res = d.Cmd(t, "ps", "-a", "--filter", "volume=/anon", "--filter", "name="+c, "--format", "{{.Names}}")
	res.Assert(t, icmd.Expected{Out: c})
	res = d.Cmd(t, "ps", "-a", "--no-trunc", "--filter", "name="+c, "--format", "{{.Mounts}}")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), named))

	d.Cmd(t, "rm", "-v", c).Assert(t, icmd.Success)
	assertExit(t, d.Cmd(t, "volume", "inspect", anon), 1)
	d.Cmd(t, "volume", "inspect", named).Assert(t, icmd.Success)
}

// A volume that a container (even a stopped one) uses cannot be removed,
// with or without -f, until the container is gone.
func TestVolumeInUse(t *testing.T) {
	d := setup(t)
	vol, c := uniqueName(t), uniqueName(t)
	removeContainers(t, d, c)
	removeVolumes(t, d, vol)
	d.Cmd(t, "volume", "create", vol).Assert(t, icmd.Success)
	d.Cmd(t, "create", "--name", c, "-v", vol+":/v", "busybox", "true").Assert(t, icmd.Success)
	id := inspect(t, d, "{{.Id}}", c)

	for _, args := range [][]string{{"volume", "rm", vol}, {"volume", "rm", "-f", vol}} {
		res := d.Cmd(t, args...)
		assertExit(t, res, 1)
		assert.Check(t, is.Contains(res.Stderr(), "remove "+vol+": volume is in use - ["+id+"]"))
	}
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "name=^"+vol+"$", "dangling=false"), []string{vol}))
	d.Cmd(t, "rm", c).Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "name=^"+vol+"$", "dangling=true"), []string{vol}))
	d.Cmd(t, "volume", "rm", vol).Assert(t, icmd.Success)
}

// volume prune removes unused anonymous volumes; named ones only with
// --all (API 1.42+). Volumes in use stay.
func TestVolumePrune(t *testing.T) {
	d := setup(t)
	label := "hbx.prune=" + uniqueName(t)
	named, used, c := uniqueName(t), uniqueName(t), uniqueName(t)
	removeContainers(t, d, c)
	removeVolumes(t, d, named, used)
	res := d.Cmd(t, "volume", "create", "--label", label)
	res.Assert(t, icmd.Success)
	anon := strings.TrimSpace(res.Stdout())
	removeVolumes(t, d, anon)
	d.Cmd(t, "volume", "create", "--label", label, named).Assert(t, icmd.Success)
	d.Cmd(t, "volume", "create", "--label", label, used).Assert(t, icmd.Success)
	d.Cmd(t, "create", "--name", c, "-v", used+":/u", "busybox", "true").Assert(t, icmd.Success)

	res = d.Cmd(t, "volume", "prune", "-f", "--filter", "label="+label)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), anon))
	if daemon.IsOracle() {
		// dockerd 20.10 (API 1.41) prunes named volumes too; current Docker
		// and hyperbox keep them without --all.
		assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label), []string{used}))
		return
	}
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label), sorted([]string{named, used})))
	res = d.Cmd(t, "volume", "prune", "-f", "--all", "--filter", "label="+label)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), named))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label), []string{used}))
}

// Volume events: create, mount, unmount, destroy, with dockerd's
// attributes.
func TestVolumeEvents(t *testing.T) {
	d := setup(t)
	vol, c := uniqueName(t), uniqueName(t)
	removeContainers(t, d, c)
	removeVolumes(t, d, vol)
	since := time.Now()
	d.Cmd(t, "run", "--name", c, "-v", vol+":/v:ro", "busybox", "true").Assert(t, icmd.Success)
	id := inspect(t, d, "{{.Id}}", c)
	d.Cmd(t, "rm", c).Assert(t, icmd.Success)
	d.Cmd(t, "volume", "rm", vol).Assert(t, icmd.Success)
	evs := eventsBetween(t, d, since, time.Now().Add(time.Second), "type=volume", "volume="+vol)
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
		assert.Check(t, is.Equal(ev.Actor.ID, vol))
		assert.Check(t, is.Equal(ev.Actor.Attributes["driver"], "local"))
		switch ev.Action {
		case "mount":
			assert.Check(t, is.DeepEqual(ev.Actor.Attributes, map[string]string{"driver": "local", "container": id,
				"destination": "/v", "read/write": "false", "propagation": ""}))
		case "unmount":
			assert.Check(t, is.DeepEqual(ev.Actor.Attributes, map[string]string{"driver": "local", "container": id}))
		}
	}
	assert.Check(t, is.DeepEqual(actions, []string{"create", "mount", "unmount", "destroy"}))
}

// Volumes, their data, labels and users survive a daemon restart; a
// tmpfs volume a running container uses stays mounted through it and is
// unmounted when the container stops.
func TestVolumePersistAcrossRestart(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	d := daemon.Start(t)
	assert.NilError(t, loadBusybox(d))
	d.Cmd(t, "volume", "create", "--label", "keep=1", "kept").Assert(t, icmd.Success)
	d.Cmd(t, "run", "--rm", "-v", "kept:/k", "busybox", "sh", "-c", "echo before-restart > /k/f").Assert(t, icmd.Success)
	d.Cmd(t, "create", "--name", "user", "-v", "used:/u", "-v", "/anon", "busybox", "true").Assert(t, icmd.Success)
	before := d.Cmd(t, "volume", "inspect", "kept").Stdout()
	anon := mountsOf(t, d, "user")[0].Name
	d.Cmd(t, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "tv").Assert(t, icmd.Success)
	d.Cmd(t, "run", "-d", "--name", "runner", "-v", "tv:/t", "busybox", "sh", "-c", "echo live > /t/f; sleep 300").Assert(t, icmd.Success)
	tmpfsDir := strings.TrimSpace(d.Cmd(t, "volume", "inspect", "--format", "{{.Mountpoint}}", "tv").Stdout())
	waitForFile(t, filepath.Join(tmpfsDir, "f"))

	d.Restart(t)

	// dockerd 20.10 unmounts the volume on the host when it stops, so the
	// container keeps a tmpfs nobody else sees; Docker 23+ (live-restored
	// volume mounts) and hyperbox keep it mounted and shared.
	if !daemon.IsOracle() {
		data, err := os.ReadFile(filepath.Join(tmpfsDir, "f"))
		assert.Check(t, err, "the tmpfs volume of a running container stays mounted")
		assert.Check(t, is.Equal(string(data), "live\n"))
		d.Cmd(t, "run", "--rm", "-v", "tv:/t", "busybox", "cat", "/t/f").Assert(t, icmd.Expected{Out: "live"})
	}
	d.Cmd(t, "rm", "-f", "runner").Assert(t, icmd.Success)
	mounts, err := daemon.MountsUnder(tmpfsDir)
	assert.NilError(t, err)
	assert.Check(t, is.Len(mounts, 0), "unmounted with its last user")

	assert.Check(t, is.Equal(d.Cmd(t, "volume", "inspect", "kept").Stdout(), before))
	d.Cmd(t, "run", "--rm", "-v", "kept:/k", "busybox", "cat", "/k/f").Assert(t, icmd.Expected{Out: "before-restart"})
	res := d.Cmd(t, "volume", "rm", "used")
	assertExit(t, res, 1)
	assert.Check(t, is.Contains(res.Stderr(), "volume is in use"))
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "dangling=false"), sorted([]string{anon, "used"})))
	d.Cmd(t, "rm", "-v", "user").Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(volumeNames(t, d), sorted([]string{"kept", "tv", "used"})))
}

// waitForFile polls until path exists.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if _, err := os.Stat(path); err != nil {
			return poll.Continue("%s: %v", path, err)
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(50*time.Millisecond))
}

// The local driver's options: a tmpfs volume is mounted while containers
// use it (one tmpfs for all of them, gone with the last); a bind-backed
// volume shows its host directory, and removing the volume leaves the
// directory's files alone. Prune leaves volumes with options alone.
func TestVolumeDriverOptions(t *testing.T) {
	d := setup(t)
	tmp, bind, c1 := uniqueName(t), uniqueName(t), uniqueName(t)
	label := "hbx.opts=" + uniqueName(t)
	removeContainers(t, d, c1)
	removeVolumes(t, d, tmp, bind)
	dir := t.TempDir()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "keep"), []byte("host\n"), 0o644))

	d.Cmd(t, "volume", "create", "--label", label, "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m,mode=0770", tmp).Assert(t, icmd.Success)
	assert.Check(t, is.Equal(strings.TrimSpace(d.Cmd(t, "volume", "inspect", "--format", "{{json .Options}}", tmp).Stdout()),
		`{"device":"tmpfs","o":"size=1m,mode=0770","type":"tmpfs"}`))
	mp := strings.TrimSpace(d.Cmd(t, "volume", "inspect", "--format", "{{.Mountpoint}}", tmp).Stdout())
	d.Cmd(t, "run", "-d", "--name", c1, "-v", tmp+":/v", "busybox", "sleep", "60").Assert(t, icmd.Success)
	res := d.Cmd(t, "run", "--rm", "-v", tmp+":/v", "busybox", "sh", "-c", "grep ' /v ' /proc/mounts; stat -c %a /v; echo shared > /v/f")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Contains(res.Stdout(), "tmpfs /v tmpfs"))
	assert.Check(t, is.Contains(res.Stdout(), "size=1024k"))
	assert.Check(t, is.Contains(res.Stdout(), "\n770\n"))
	d.Cmd(t, "exec", c1, "cat", "/v/f").Assert(t, icmd.Expected{Out: "shared"})
	d.Cmd(t, "rm", "-f", c1).Assert(t, icmd.Success)
	res = d.Cmd(t, "run", "--rm", "-v", tmp+":/v", "busybox", "ls", "-A", "/v")
	res.Assert(t, icmd.Success)
	assert.Check(t, is.Equal(res.Stdout(), ""), "the tmpfs goes with its last user")
	mounts, err := daemon.MountsUnder(mp)
	assert.NilError(t, err)
	assert.Check(t, is.Len(mounts, 0), "volume left mounted on the host")

	d.Cmd(t, "volume", "create", "--label", label, "--opt", "type=none", "--opt", "o=bind", "--opt", "device="+dir, bind).Assert(t, icmd.Success)
	d.Cmd(t, "run", "--rm", "-v", bind+":/b", "busybox", "sh", "-c", "cat /b/keep; echo from-ctr > /b/new").Assert(t, icmd.Expected{Out: "host"})
	data, err := os.ReadFile(filepath.Join(dir, "new"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "from-ctr\n"))

	res = d.Cmd(t, "volume", "prune", "-f", "--filter", "label="+label)
	res.Assert(t, icmd.Success)
	assert.Check(t, is.DeepEqual(volumeNames(t, d, "label="+label), sorted([]string{tmp, bind})), "prune skips volumes with options")
	d.Cmd(t, "volume", "rm", bind).Assert(t, icmd.Success)
	for _, f := range []string{"keep", "new"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.Check(t, err, "removing the volume deleted the host's %s", f)
	}
}
