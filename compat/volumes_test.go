package compat

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	engvolume "github.com/hyperbox/hyperbox/engine/volume"
)

// Docker's exact wording for volume errors, and their classes.
func TestVolumeErrorWording(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   error
		class func(error) bool
		msg   string
	}{
		{name: "not found", err: volumeNotFound("x"), class: errdefs.IsNotFound, msg: "get x: no such volume"},
		{name: "in use", err: volumeInUse("x", []string{"a", "b"}), class: errdefs.IsConflict, msg: "remove x: volume is in use - [a, b]"},
		{name: "name too short", err: checkVolumeName("a"), class: errdefs.IsInvalidArgument,
			msg: "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{name: "name with traversal", err: checkVolumeName("../../etc"), class: errdefs.IsInvalidArgument,
			msg: `create ../../etc: "../../etc" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{name: "plugin", err: checkVolumeDriver("v1", "nfs", nil), class: errdefs.IsNotFound,
			msg: `create v1: error looking up volume plugin nfs: plugin "nfs" not found`},
		{name: "unknown option", err: checkVolumeDriver("v1", "local", map[string]string{"bogus": "1", "type": "x"}), class: errdefs.IsInvalidArgument,
			msg: `create v1: invalid option: "bogus"`},
		{name: "missing type", err: checkVolumeDriver("v1", "", map[string]string{"device": "tmpfs"}), class: errdefs.IsInvalidArgument,
			msg: `create v1: missing required option: "type"`},
		{name: "o alone", err: checkVolumeDriver("v1", "", map[string]string{"o": "size=1m"}), class: errdefs.IsInvalidArgument,
			msg: `create v1: missing required option: "device"`},
		{name: "quota", err: checkVolumeDriver("v1", "", map[string]string{"size": "1g"}), class: errdefs.IsInvalidArgument,
			msg: "create v1: quota size requested but no quota support"},
		{name: "all twice", err: second(pruneAll(map[string]bool{"true": true, "false": true})), class: errdefs.IsInvalidArgument,
			msg: "invalid filter 'all=[false true]': only one value is expected"},
		{name: "all not bool", err: second(pruneAll(map[string]bool{"maybe": true})), class: errdefs.IsInvalidArgument,
			msg: `invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Check(t, tc.class(tc.err), "got %v", tc.err)
			if tc.msg != "" {
				assert.Check(t, is.Error(tc.err, tc.msg))
			}
		})
	}
	for _, ok := range []string{"", "data", "a.b-c_d", engvolume.NewName()} {
		assert.Check(t, checkVolumeName(ok), ok)
	}
	assert.NilError(t, checkVolumeDriver("v1", "local", map[string]string{}))
	assert.NilError(t, checkVolumeDriver("v1", "", map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}))
	assert.NilError(t, checkVolumeDriver("", "", nil))
}

func second[T any](_ T, err error) error { return err }

func TestBoolFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		values        map[string]map[string]bool
		value, exists bool
		err           string
	}{
		{name: "absent"},
		{name: "true", values: map[string]map[string]bool{"dangling": {"true": true}}, value: true, exists: true},
		{name: "1", values: map[string]map[string]bool{"dangling": {"1": true}}, value: true, exists: true},
		{name: "false", values: map[string]map[string]bool{"dangling": {"false": true}}, exists: true},
		{name: "0", values: map[string]map[string]bool{"dangling": {"0": true}}, exists: true},
		{name: "both", values: map[string]map[string]bool{"dangling": {"0": true, "true": true}}, err: "invalid filter 'dangling=[0 true]'"},
		{name: "bogus", values: map[string]map[string]bool{"dangling": {"maybe": true}}, err: "invalid filter 'dangling=[maybe]'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, ok, err := boolFilter(tc.values, "dangling")
			if tc.err != "" {
				assert.Check(t, errdefs.IsInvalidArgument(err))
				assert.Check(t, is.Error(err, tc.err))
				return
			}
			assert.NilError(t, err)
			assert.Check(t, is.Equal(v, tc.value))
			assert.Check(t, is.Equal(ok, tc.exists))
		})
	}
}

func TestMatchName(t *testing.T) {
	t.Parallel()
	assert.Check(t, matchName(map[string]bool{"data": true}, "data"))
	assert.Check(t, matchName(map[string]bool{"at": true}, "data"), "a substring matches, as dockerd's regexp filter")
	assert.Check(t, matchName(map[string]bool{"^d.*a$": true}, "data"))
	assert.Check(t, !matchName(map[string]bool{"^x": true, "[": true}, "data"), "bad expressions match nothing")
}

func TestAPIVolume(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	v := apiVolume(engvolume.Volume{Name: "v1", Driver: "local", Mountpoint: "/r/v1/_data", CreatedAt: created,
		Labels: map[string]string{"a": "b"}})
	assert.Check(t, is.Equal(v.Scope, "local"))
	assert.Check(t, is.Equal(v.Mountpoint, "/r/v1/_data"))
	// CreatedAt must parse as RFC 3339 (Ryuk skips volumes whose date does not).
	got, err := time.Parse(time.RFC3339, v.CreatedAt)
	assert.NilError(t, err)
	assert.Check(t, got.Equal(created))
	assert.Check(t, v.Options == nil)
}

// VOLUME in docker import --change takes paths, in JSON or separated by
// blanks, as dockerd does (never a shell command line).
func TestImportVolumeChange(t *testing.T) {
	t.Parallel()
	cfg, err := parseChanges([]string{"VOLUME /data /evil", `VOLUME ["/j1", "/j2"]`, "VOLUME /one"})
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(cfg.Volumes, map[string]struct{}{"/data": {}, "/evil": {}, "/j1": {}, "/j2": {}, "/one": {}}))
}
