package compat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"

	engvolume "github.com/hyperbox/hyperbox/engine/volume"
	"github.com/hyperbox/hyperbox/server/middleware"
	"github.com/hyperbox/hyperbox/server/routes/volumes"
)

// Docker's wording for volume errors (moby daemon/volume/service and the
// local driver): each keeps the class dockerd gives it.

// volumeNotFound is dockerd's 404 for a volume name.
func volumeNotFound(name string) error {
	return errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
}

// volumeInUse is dockerd's 409 for removing a volume containers use.
func volumeInUse(name string, refs []string) error {
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(refs, ", ")))
}

// checkVolumeName refuses a name the local driver cannot take ("" is an
// anonymous volume and fine).
func checkVolumeName(name string) error {
	switch {
	case name == "" || engvolume.ValidName(name):
		return nil
	case len(name) == 1:
		return invalid("create %s: volume name is too short, names should be at least two alphanumeric characters", name)
	}
	return invalid("create %s: %q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path",
		name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]")
}

// checkVolumeDriver accepts the local driver (named "local" or not named)
// with valid options (type, device, o; size needs quotas, which hyperboxd
// does not set up, as dockerd on a filesystem without them): other drivers
// are plugins, which hyperboxd has none of (dockerd's 404).
func checkVolumeDriver(name, driver string, opts map[string]string) error {
	if name == "" {
		name = engvolume.NewName() // dockerd names the anonymous volume first
	}
	if driver != "" && driver != engvolume.DriverName {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("create %s: error looking up volume plugin %s: plugin %q not found", name, driver, driver))
	}
	var oe *engvolume.OptionError
	switch err := engvolume.ValidateOptions(opts); {
	case err == nil:
		return nil
	case !errors.As(err, &oe):
		return err
	case oe.Unknown != "":
		return invalid("create %s: invalid option: %q", name, oe.Unknown)
	case oe.Missing != "":
		return invalid("create %s: missing required option: %q", name, oe.Missing)
	}
	return invalid("create %s: quota size requested but no quota support", name)
}

// apiVolume converts an engine volume. CreatedAt is in the daemon's time
// zone, as dockerd formats it.
func apiVolume(v engvolume.Volume) volume.Volume {
	return volume.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Scope: "local",
		CreatedAt: v.CreatedAt.Local().Format(time.RFC3339), Labels: v.Labels, Options: v.Options,
	}
}

// VolumeCreate answers POST /volumes/create: the named volume, created if
// missing (an existing one is returned unchanged, whatever the request's
// labels and options). An empty name makes an anonymous volume (labelled
// com.docker.volume.anonymous, as dockerd since 23.0).
func (d *Daemon) VolumeCreate(ctx context.Context, req *volume.CreateRequest, apiVersion string) (*volume.Volume, error) {
	if req.ClusterVolumeSpec != nil && middleware.CompareVersions(apiVersion, "1.42") >= 0 {
		return nil, errdefs.ErrUnavailable.WithMessage(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	if err := checkVolumeDriver(req.Name, req.Driver, nil); err != nil {
		return nil, err
	}
	if err := checkVolumeName(req.Name); err != nil {
		return nil, err
	}
	if req.Name != "" {
		if v, err := d.engine.Volume(ctx, req.Name); err == nil {
			out := apiVolume(v)
			return &out, nil
		}
	}
	if err := checkVolumeDriver(req.Name, req.Driver, req.DriverOpts); err != nil {
		return nil, err
	}
	labels := req.Labels
	if req.Name == "" {
		labels = anonymousLabels(labels)
	}
	v, err := d.engine.VolumeCreate(ctx, req.Name, engvolume.CreateOptions{Labels: labels, Options: req.DriverOpts})
	if err != nil {
		return nil, err
	}
	out := apiVolume(v)
	return &out, nil
}

// VolumeInspect answers GET /volumes/{name}.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (*volume.Volume, error) {
	v, err := d.engine.Volume(ctx, name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, volumeNotFound(name)
		}
		return nil, err
	}
	out := apiVolume(v)
	return &out, nil
}

var volumeListFilters = map[string]bool{"dangling": true, "name": true, "driver": true, "label": true}

// VolumeList answers GET /volumes with dockerd's filters: dangling (no
// container uses it), name (regular expression, so a substring matches),
// driver, label (all must match).
func (d *Daemon) VolumeList(ctx context.Context, f map[string]map[string]bool) (*volume.ListResponse, error) {
	for k := range f {
		if !volumeListFilters[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	dangling, hasDangling, err := boolFilter(f, "dangling")
	if err != nil {
		return nil, err
	}
	out := &volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range d.engine.Volumes(ctx) {
		if hasDangling && (len(d.engine.VolumeUsers(v.Name)) == 0) != dangling {
			continue
		}
		if len(f["driver"]) > 0 && !f["driver"][v.Driver] {
			continue
		}
		if len(f["name"]) > 0 && !matchName(f["name"], v.Name) {
			continue
		}
		if !matchLabels(f["label"], v.Labels) {
			continue
		}
		out.Volumes = append(out.Volumes, apiVolume(v))
	}
	return out, nil
}

// boolFilter reads a boolean filter as dockerd's GetBoolOrDefault:
// "true"/"1" or "false"/"0", not both.
func boolFilter(f map[string]map[string]bool, key string) (value, present bool, err error) {
	vs, ok := f[key]
	if !ok {
		return false, false, nil
	}
	isTrue, isFalse := vs["1"] || vs["true"], vs["0"] || vs["false"]
	if isTrue == isFalse {
		vals := make([]string, 0, len(vs))
		for v := range vs {
			vals = append(vals, v)
		}
		sort.Strings(vals)
		return false, false, invalid("invalid filter '%s=%v'", key, vals)
	}
	return isTrue, true, nil
}

// matchName is dockerd's filter Match: an exact value, or a regular
// expression found in s.
func matchName(values map[string]bool, s string) bool {
	if values[s] {
		return true
	}
	for v := range values {
		if re, err := regexp.Compile(v); err == nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// VolumeRemove answers DELETE /volumes/{name}; force makes a missing
// volume no error (a volume in use is still refused, as dockerd does).
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	err := d.engine.VolumeRemove(ctx, name)
	var inUse *engvolume.InUseError
	switch {
	case err == nil:
		return nil
	case errdefs.IsNotFound(err):
		if force {
			return nil
		}
		return volumeNotFound(name)
	case errors.As(err, &inUse):
		return volumeInUse(name, inUse.Refs)
	}
	return err
}

var _ volumes.Backend = (*Daemon)(nil)
