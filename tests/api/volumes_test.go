package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// volumeCleanup removes volumes when the test ends.
func (e env) volumeCleanup(t *testing.T, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			_, _ = e.c.VolumeRemove(context.Background(), n, client.VolumeRemoveOptions{Force: true})
		}
	})
}

// createWithVolumes creates a container and removes it with its anonymous
// volumes when the test ends.
func (e env) createWithVolumes(t *testing.T, cfg container.Config, hc *container.HostConfig) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	res, err := e.c.ContainerCreate(e.ctx, client.ContainerCreateOptions{Config: &cfg, HostConfig: hc, Name: uniqueName(t)})
	assert.NilError(t, err)
	t.Cleanup(func() {
		_, _ = e.c.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	})
	return res.ID
}

func filterArgs(kv ...string) string {
	f := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = append(f[kv[i]], kv[i+1])
	}
	b, _ := json.Marshal(f)
	return url.QueryEscape(string(b))
}

// POST /volumes/create, GET /volumes(/{name}), DELETE with dockerd's codes
// and messages.
func TestVolumeAPI(t *testing.T) {
	e := setup(t)
	name := uniqueName(t)
	e.volumeCleanup(t, name)

	res, err := e.c.VolumeCreate(e.ctx, client.VolumeCreateOptions{Name: name, Labels: map[string]string{"a": "1"}})
	assert.NilError(t, err)
	v := res.Volume
	assert.Check(t, is.Equal(v.Name, name))
	assert.Check(t, is.Equal(v.Driver, "local"))
	assert.Check(t, is.Equal(v.Scope, "local"))
	assert.Check(t, is.DeepEqual(v.Labels, map[string]string{"a": "1"}))
	assert.Check(t, is.Equal(v.Mountpoint, filepath.Join(e.d.DataRoot(), "volumes", name, "_data")))

	// The same name again: the existing volume, labels unchanged.
	r := e.do(t, http.MethodPost, "/volumes/create", strings.NewReader(`{"Name":"`+name+`","Labels":{"b":"2"}}`), "Content-Type", "application/json")
	assert.Check(t, is.Equal(r.StatusCode, http.StatusCreated))
	var again volume.Volume
	assert.NilError(t, json.Unmarshal(r.body, &again))
	assert.Check(t, is.DeepEqual(again, v))

	got, err := e.c.VolumeInspect(e.ctx, name, client.VolumeInspectOptions{})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(got.Volume, v))

	r = e.do(t, http.MethodGet, "/volumes?filters="+filterArgs("label", "a=1", "name", name), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))
	var list struct {
		Volumes  []volume.Volume
		Warnings []string
	}
	assert.NilError(t, json.Unmarshal(r.body, &list))
	assert.Check(t, is.Len(list.Volumes, 1))
	if !daemon.IsOracle() {
		// dockerd sends "Warnings":null; hyperbox an empty list.
		assert.Check(t, is.Contains(string(r.body), `"Warnings":[]`))
	}

	r = e.do(t, http.MethodGet, "/volumes/nosuch-"+name, nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusNotFound))
	assert.Check(t, is.Equal(r.message(t), "get nosuch-"+name+": no such volume"))
	r = e.do(t, http.MethodDelete, "/volumes/nosuch-"+name, nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusNotFound))
	r = e.do(t, http.MethodDelete, "/volumes/nosuch-"+name+"?force=1", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusNoContent))

	// No name: an anonymous volume with a generated name.
	res, err = e.c.VolumeCreate(e.ctx, client.VolumeCreateOptions{})
	assert.NilError(t, err)
	e.volumeCleanup(t, res.Volume.Name)
	assert.Check(t, is.Len(res.Volume.Name, 64))
	if !daemon.IsOracle() {
		// Docker 23+ labels it; 20.10 did not.
		assert.Check(t, is.DeepEqual(res.Volume.Labels, map[string]string{"com.docker.volume.anonymous": ""}))
	}

	cases := []struct {
		name, body string
		codes      []int
		message    string
	}{
		{name: "plugin driver", body: `{"Name":"` + name + `-p","Driver":"nosuchplugin"}`, codes: []int{404},
			message: `create ` + name + `-p: error looking up volume plugin nosuchplugin: plugin "nosuchplugin" not found`},
		{name: "unknown option", body: `{"Name":"` + name + `-o","DriverOpts":{"bogus":"1"}}`, codes: []int{400},
			message: `create ` + name + `-o: invalid option: "bogus"`},
		{name: "too short", body: `{"Name":"a"}`, codes: []int{400},
			message: "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{name: "device without type", body: `{"Name":"` + name + `-d","DriverOpts":{"device":"tmpfs"}}`, codes: []int{400},
			message: `create ` + name + `-d: missing required option: "type"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/volumes/create", strings.NewReader(tc.body), "Content-Type", "application/json")
			assert.Check(t, is.Contains(tc.codes, r.StatusCode), string(r.body))
			assert.Check(t, is.Equal(r.message(t), tc.message))
		})
	}

	_, err = e.c.VolumeRemove(e.ctx, name, client.VolumeRemoveOptions{})
	assert.NilError(t, err)
	_, err = os.Stat(filepath.Dir(v.Mountpoint))
	assert.Check(t, os.IsNotExist(err))
}

// A volume used by a container: 409 with the container's ID, not dangling,
// not pruned; /system/df counts it with its size.
func TestVolumeInUseAPI(t *testing.T) {
	e := setup(t)
	name := uniqueName(t)
	e.volumeCleanup(t, name)
	id := e.createWithVolumes(t, container.Config{Cmd: []string{"sh", "-c", "printf 12345 > /v/f"}}, &container.HostConfig{Binds: []string{name + ":/v"}})
	e.start(t, id)
	assert.Check(t, is.Equal(e.waitExit(t, id, container.WaitConditionNotRunning, nil), int64(0)))

	r := e.do(t, http.MethodDelete, "/volumes/"+name, nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusConflict))
	assert.Check(t, is.Equal(r.message(t), "remove "+name+": volume is in use - ["+id+"]"))
	r = e.do(t, http.MethodDelete, "/volumes/"+name+"?force=1", nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusConflict))

	r = e.do(t, http.MethodGet, "/volumes?filters="+filterArgs("dangling", "true", "name", name), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))
	assert.Check(t, !strings.Contains(string(r.body), name), "a used volume is not dangling")

	// The API 1.41 prune (all unused volumes) leaves it alone too.
	r = e.do(t, http.MethodPost, "/v1.41/volumes/prune?filters="+filterArgs("label", "nosuch-label-"+name), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusOK))

	r = e.do(t, http.MethodGet, "/v1.41/system/df", nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	var df struct{ Volumes []volume.Volume }
	assert.NilError(t, json.Unmarshal(r.body, &df))
	found := false
	for _, v := range df.Volumes {
		if v.Name == name {
			found = true
			assert.Assert(t, v.UsageData != nil)
			assert.Check(t, is.Equal(v.UsageData.Size, int64(5)))
			assert.Check(t, is.Equal(v.UsageData.RefCount, int64(1)))
		}
	}
	assert.Check(t, found, "volume %s not in /system/df: %s", name, r.body)

	_, err := e.c.ContainerRemove(e.ctx, id, client.ContainerRemoveOptions{RemoveVolumes: true})
	assert.NilError(t, err)
	_, err = e.c.VolumeInspect(e.ctx, name, client.VolumeInspectOptions{})
	assert.NilError(t, err, "rm -v keeps named volumes")
}

// Prune: API < 1.42 removes every unused volume, 1.42+ only anonymous ones
// unless all=true; filters are checked.
func TestVolumePruneAPI(t *testing.T) {
	e := setup(t)
	label := "hbx.prune=" + uniqueName(t)
	named := uniqueName(t)
	e.volumeCleanup(t, named)
	k, v, _ := strings.Cut(label, "=")
	_, err := e.c.VolumeCreate(e.ctx, client.VolumeCreateOptions{Name: named, Labels: map[string]string{k: v}})
	assert.NilError(t, err)

	r := e.do(t, http.MethodPost, "/v1.41/volumes/prune?filters="+filterArgs("label", label), nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK), string(r.body))
	var rep volume.PruneReport
	assert.NilError(t, json.Unmarshal(r.body, &rep))
	assert.Check(t, is.DeepEqual(rep.VolumesDeleted, []string{named}))

	r = e.do(t, http.MethodPost, "/volumes/prune?filters="+filterArgs("bogus", "1"), nil)
	assert.Check(t, r.StatusCode == http.StatusBadRequest || daemon.IsOracle() && r.StatusCode == http.StatusInternalServerError, string(r.body))
	assert.Check(t, is.Equal(strings.ToLower(r.message(t)), "invalid filter 'bogus'"))

	max, _ := e.apiVersions(t)
	if parseVersion(t, max).less(apiVersion{1, 42}) {
		t.Logf("API %s: no anonymous-only prune (dockerd 20.10)", max)
		return
	}
	_, err = e.c.VolumeCreate(e.ctx, client.VolumeCreateOptions{Name: named, Labels: map[string]string{k: v}})
	assert.NilError(t, err)
	anon, err := e.c.VolumeCreate(e.ctx, client.VolumeCreateOptions{Labels: map[string]string{k: v}})
	assert.NilError(t, err)
	e.volumeCleanup(t, anon.Volume.Name)
	pr, err := e.c.VolumePrune(e.ctx, client.VolumePruneOptions{Filters: client.Filters{}.Add("label", label)})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(pr.Report.VolumesDeleted, []string{anon.Volume.Name}))
	pr, err = e.c.VolumePrune(e.ctx, client.VolumePruneOptions{All: true, Filters: client.Filters{}.Add("label", label)})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(pr.Report.VolumesDeleted, []string{named}))
	r = e.do(t, http.MethodPost, "/volumes/prune?filters="+filterArgs("all", "maybe"), nil)
	assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest))
}

// Inspect's Mounts for each kind of mount, field by field as dockerd
// fills them.
func TestMountsInspectAPI(t *testing.T) {
	e := setup(t)
	named := uniqueName(t)
	e.volumeCleanup(t, named)
	host := t.TempDir()
	id := e.createWithVolumes(t, container.Config{Cmd: []string{"true"}, Volumes: map[string]struct{}{"/anon": {}}}, &container.HostConfig{
		Binds: []string{host + ":/bind:ro", named + ":/named"},
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: host, Target: "/mbind", BindOptions: &mount.BindOptions{Propagation: mount.PropagationRSlave}},
			{Type: mount.TypeVolume, Target: "/manon", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
			{Type: mount.TypeTmpfs, Target: "/tmp/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
		},
	})
	ms := e.inspect(t, id).Mounts
	sort.Slice(ms, func(i, j int) bool { return ms[i].Destination < ms[j].Destination })
	assert.Assert(t, is.Len(ms, 6), "%+v", ms)
	for _, i := range []int{0, 2} { // anonymous volumes: generated names
		assert.Check(t, is.Len(ms[i].Name, 64))
		assert.Check(t, is.Equal(ms[i].Source, filepath.Join(e.d.DataRoot(), "volumes", ms[i].Name, "_data")))
		ms[i].Name, ms[i].Source = "", ""
	}
	vols := filepath.Join(e.d.DataRoot(), "volumes")
	assert.Check(t, is.DeepEqual(ms, []container.MountPoint{
		{Type: "volume", Destination: "/anon", Driver: "local", Mode: "", RW: true},
		{Type: "bind", Source: host, Destination: "/bind", Mode: "ro", RW: false, Propagation: "rprivate"},
		{Type: "volume", Destination: "/manon", Driver: "local", Mode: "z", RW: true},
		{Type: "bind", Source: host, Destination: "/mbind", Mode: "", RW: true, Propagation: "rslave"},
		{Type: "volume", Name: named, Source: filepath.Join(vols, named, "_data"), Destination: "/named", Driver: "local", Mode: "z", RW: true},
		{Type: "tmpfs", Destination: "/tmp/t", RW: true},
	}))
	hc := e.inspect(t, id).HostConfig
	assert.Check(t, is.DeepEqual(hc.Binds, []string{host + ":/bind:ro", named + ":/named"}), "HostConfig keeps the request")

	r := e.do(t, http.MethodGet, "/containers/json?all=1&filters="+filterArgs("volume", named), nil)
	assert.Assert(t, is.Equal(r.StatusCode, http.StatusOK))
	var list []container.Summary
	assert.NilError(t, json.Unmarshal(r.body, &list))
	assert.Assert(t, is.Len(list, 1))
	assert.Check(t, is.Equal(list[0].ID, id))
	assert.Check(t, is.Len(list[0].Mounts, 6))
}

// BindOptions.CreateMountpoint (API 1.42) creates a missing bind source;
// without it the create is refused.
func TestMountBindCreateMountpointAPI(t *testing.T) {
	e := setup(t)
	max, _ := e.apiVersions(t)
	if parseVersion(t, max).less(apiVersion{1, 42}) {
		t.Skipf("API %s has no CreateMountpoint (dockerd 20.10)", max)
	}
	missing := filepath.Join(t.TempDir(), "a", "b")
	_, err := e.c.ContainerCreate(e.ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "busybox", Cmd: []string{"true"}},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: missing, Target: "/x"}}}})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
	id := e.createWithVolumes(t, container.Config{Cmd: []string{"sh", "-c", "echo made > /x/f"}}, &container.HostConfig{
		Mounts: []mount.Mount{{Type: mount.TypeBind, Source: missing, Target: "/x", BindOptions: &mount.BindOptions{CreateMountpoint: true}}}})
	e.start(t, id)
	assert.Check(t, is.Equal(e.waitExit(t, id, container.WaitConditionNotRunning, nil), int64(0)))
	data, err := os.ReadFile(filepath.Join(missing, "f"))
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(data), "made\n"))
}

// Hostile volume names and mount paths: refused with a 4xx (dockerd 20.10
// answers some malformed Binds with a 500), never anything created outside
// the volume root.
func TestVolumeHostileInput(t *testing.T) {
	e := setup(t)
	host := t.TempDir()
	create := func(body string) string {
		return `{"Image":"busybox","Cmd":["true"]` + body + `}`
	}
	cases := []struct {
		name, method, path, body string
		codes                    []int
		oracleCodes              []int // dockerd 20.10 when it differs
	}{
		{name: "volume name traversal", method: http.MethodPost, path: "/volumes/create", body: `{"Name":"../../etc"}`, codes: []int{400}},
		{name: "volume name dot dot", method: http.MethodPost, path: "/volumes/create", body: `{"Name":".."}`, codes: []int{400}},
		{name: "volume name slash", method: http.MethodPost, path: "/volumes/create", body: `{"Name":"x/y"}`, codes: []int{400}},
		{name: "volume name nul", method: http.MethodPost, path: "/volumes/create", body: `{"Name":"ab\u0000cd"}`, codes: []int{400}},
		{name: "bind of a volume named traversal", method: http.MethodPost, path: "/containers/create", body: create(`,"HostConfig":{"Binds":["../../etc:/x"]}`), codes: []int{400}},
		{name: "mount of a volume named traversal", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Mounts":[{"Type":"volume","Source":"../../etc","Target":"/x"}]}`), codes: []int{400}},
		{name: "bind destination climbing to root", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Binds":["` + host + `:/../../.."]}`), codes: []int{400}, oracleCodes: []int{500}},
		{name: "bind destination relative", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Binds":["` + host + `:../../etc"]}`), codes: []int{400}, oracleCodes: []int{500}},
		{name: "mount target climbing to root", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/a/../../.."}]}`), codes: []int{400}},
		{name: "mount target relative", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + host + `","Target":"../etc"}]}`), codes: []int{400}},
		{name: "bind source relative", method: http.MethodPost, path: "/containers/create",
			body: create(`,"HostConfig":{"Mounts":[{"Type":"bind","Source":"../../etc","Target":"/x"}]}`), codes: []int{400}},
		{name: "volumes-from bad mode", method: http.MethodPost, path: "/containers/create", body: create(`,"HostConfig":{"VolumesFrom":["x:rshared"]}`), codes: []int{400}, oracleCodes: []int{400, 404}},
		{name: "inspect traversal", method: http.MethodGet, path: "/volumes/..%2F..%2Fetc", codes: []int{404}},
		{name: "remove traversal", method: http.MethodDelete, path: "/volumes/..%2F..%2Fetc", codes: []int{404, 405}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.body != "" {
				r = e.do(t, tc.method, tc.path, strings.NewReader(tc.body), "Content-Type", "application/json")
			} else {
				r = e.do(t, tc.method, tc.path, nil)
			}
			codes := tc.codes
			if daemon.IsOracle() && tc.oracleCodes != nil {
				codes = tc.oracleCodes
			}
			assert.Check(t, is.Contains(codes, r.StatusCode), "%s", r.body)
			if r.StatusCode == http.StatusCreated {
				var c struct{ ID string }
				_ = json.Unmarshal(r.body, &c)
				_, _ = e.c.ContainerRemove(e.ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		})
	}
	// A relative image volume path: dockerd 20.10 creates the container
	// (its start fails later); hyperbox refuses it at once.
	r := e.do(t, http.MethodPost, "/containers/create", strings.NewReader(create(`,"Volumes":{"../../etc":{}}`)), "Content-Type", "application/json")
	if daemon.IsOracle() {
		var c struct{ ID string }
		_ = json.Unmarshal(r.body, &c)
		_, _ = e.c.ContainerRemove(e.ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	} else {
		assert.Check(t, is.Equal(r.StatusCode, http.StatusBadRequest), string(r.body))
	}
	for _, p := range []string{filepath.Join(e.d.DataRoot(), "etc"), filepath.Join(filepath.Dir(e.d.DataRoot()), "etc")} {
		_, err := os.Stat(p)
		assert.Check(t, os.IsNotExist(err), "%s was created", p)
	}
	entries, err := os.ReadDir(filepath.Join(e.d.DataRoot(), "volumes"))
	assert.NilError(t, err)
	for _, ent := range entries {
		assert.Check(t, !strings.Contains(ent.Name(), "etc") && !strings.HasPrefix(ent.Name(), "."), "unexpected %s", ent.Name())
	}
}
