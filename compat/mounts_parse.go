package compat

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/hyperbox/hyperbox/engine"
)

// Docker's mount vocabulary on Linux (moby daemon/volume/mounts): the
// parts a Binds mode string may hold, at most one of each group.
var (
	rwModes          = map[string]bool{"rw": true, "ro": true}
	labelModes       = map[string]bool{"z": true, "Z": true}
	propagationModes = map[string]bool{"private": true, "rprivate": true, "slave": true, "rslave": true, "shared": true, "rshared": true}
	copyModes        = map[string]bool{"nocopy": true}
	consistencyModes = map[string]bool{"consistent": true, "cached": true, "delegated": true}
)

// defaultPropagation is a bind's propagation when none is given.
const defaultPropagation = "rprivate"

// validMountMode reports whether a Binds mode string ("ro,Z", "rshared",
// "nocopy", ...) is well formed.
func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	groups := []map[string]bool{rwModes, labelModes, propagationModes, copyModes, consistencyModes}
	counts := make([]int, len(groups))
	for _, o := range strings.Split(mode, ",") {
		i := slices.IndexFunc(groups, func(g map[string]bool) bool { return g[o] })
		if i < 0 {
			return false
		}
		if counts[i]++; counts[i] > 1 {
			return false
		}
	}
	return true
}

// modeHas returns the part of mode found in set ("" if none).
func modeHas(mode string, set map[string]bool) string {
	for _, o := range strings.Split(mode, ",") {
		if set[o] {
			return o
		}
	}
	return ""
}

// bindSpec is a Binds entry as dockerd reads it: a mount.Mount plus the
// mode string shown in inspect.
type bindSpec struct {
	mount.Mount
	mode string
}

// parseBind reads one HostConfig.Binds entry, "[source:]destination[:mode]"
// (source absolute: a bind; otherwise a volume name), with dockerd's
// checks and wording (its ParseMountRaw). A bind source need not exist.
func parseBind(raw string) (engine.Mount, error) {
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return engine.Mount{}, invalidSpec(raw)
	}
	var b bindSpec
	switch len(arr) {
	case 1:
		b.Target = arr[0]
	case 2:
		if validMountMode(arr[1]) {
			// "/foo:rw": a destination and a mode, but no source.
			return engine.Mount{}, invalidSpec(raw)
		}
		b.Source, b.Target = arr[0], arr[1]
	case 3:
		b.Source, b.Target, b.mode = arr[0], arr[1], arr[2]
	default:
		return engine.Mount{}, invalidSpec(raw)
	}
	if !validMountMode(b.mode) {
		return engine.Mount{}, invalid("invalid mode: %s", b.mode)
	}
	b.Type = mount.TypeVolume
	if path.IsAbs(b.Source) {
		b.Type = mount.TypeBind
	}
	b.ReadOnly = modeHas(b.mode, rwModes) == "ro"
	if modeHas(b.mode, copyModes) != "" {
		b.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
	}
	if p := modeHas(b.mode, propagationModes); p != "" {
		b.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(p)}
	}
	m, err := convertMount(b.Mount, false)
	if err != nil {
		if !errdefs.IsInvalidArgument(err) {
			return engine.Mount{}, err
		}
		return engine.Mount{}, invalid("invalid volume specification: '%s': %s", raw, err.Error())
	}
	m.Mode = b.mode
	if m.Type == engine.MountVolume && m.Mode == "" {
		m.Mode = "z" // dockerd's default for local volumes (SELinux shared label)
	}
	// -v creates a missing host directory, --mount does not.
	m.CreateSource = m.Type == engine.MountBind
	return m, nil
}

func invalidSpec(raw string) error { return invalid("invalid volume specification: '%s'", raw) }

// convertMount checks one HostConfig.Mounts entry as dockerd does (its
// ValidateMountConfig, wording included) and converts it. checkSource
// refuses a bind source that does not exist (unless CreateMountpoint).
func convertMount(m mount.Mount, checkSource bool) (engine.Mount, error) {
	fail := func(format string, args ...any) (engine.Mount, error) {
		return engine.Mount{}, invalid("invalid mount config for type %q: %s", m.Type, fmt.Sprintf(format, args...))
	}
	for _, o := range []struct {
		name string
		set  bool
		typ  mount.Type
	}{
		{"BindOptions", m.BindOptions != nil, mount.TypeBind},
		{"VolumeOptions", m.VolumeOptions != nil, mount.TypeVolume},
		{"ImageOptions", m.ImageOptions != nil, mount.TypeImage},
		{"TmpfsOptions", m.TmpfsOptions != nil, mount.TypeTmpfs},
		{"ClusterOptions", m.ClusterOptions != nil, mount.TypeCluster},
	} {
		if o.set && m.Type != o.typ {
			return fail("field %s must not be specified", o.name)
		}
	}
	switch {
	case m.Target == "":
		return fail("field Target must not be empty")
	case path.Clean(m.Target) == "/":
		return fail("invalid specification: destination can't be '/'")
	case !path.IsAbs(m.Target):
		return fail("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	out := engine.Mount{Destination: path.Clean(m.Target), ReadOnly: m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		return convertBindMount(m, out, checkSource, fail)
	case mount.TypeVolume:
		return convertVolumeMount(m, out)
	case mount.TypeTmpfs:
		if m.Source != "" {
			return fail("field Source must not be specified")
		}
		opts, err := tmpfsOptions(m.TmpfsOptions)
		if err != nil {
			return fail("%s", err)
		}
		out.Type, out.TmpfsOptions = engine.MountTmpfs, opts
		return out, nil
	case mount.TypeImage:
		return engine.Mount{}, notImplemented("HostConfig.Mounts of type image")
	}
	return fail("mount type unknown")
}

func convertBindMount(m mount.Mount, out engine.Mount, checkSource bool, fail func(string, ...any) (engine.Mount, error)) (engine.Mount, error) {
	if m.Source == "" {
		return fail("field Source must not be empty")
	}
	bo := m.BindOptions
	if bo == nil {
		bo = &mount.BindOptions{}
	}
	if bo.Propagation != "" && !propagationModes[string(bo.Propagation)] {
		return fail("invalid propagation mode: %s", bo.Propagation)
	}
	if !path.IsAbs(m.Source) {
		return fail("invalid mount path: '%s' mount path must be absolute", m.Source)
	}
	if checkSource && !bo.CreateMountpoint {
		if _, err := os.Lstat(m.Source); err != nil {
			return fail("bind source path does not exist: %s", m.Source)
		}
	}
	switch {
	case bo.ReadOnlyForceRecursive:
		return engine.Mount{}, notImplemented("BindOptions.ReadOnlyForceRecursive")
	case bo.ReadOnlyNonRecursive && !m.ReadOnly:
		return engine.Mount{}, invalid("mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive")
	}
	out.Type = engine.MountBind
	out.Source = path.Clean(m.Source)
	out.Propagation = string(bo.Propagation)
	if out.Propagation == "" {
		out.Propagation = defaultPropagation
	}
	out.NonRecursive = bo.NonRecursive
	out.CreateSource = bo.CreateMountpoint
	return out, nil
}

func convertVolumeMount(m mount.Mount, out engine.Mount) (engine.Mount, error) {
	out.Type, out.Source, out.Mode = engine.MountVolume, m.Source, "z"
	if vo := m.VolumeOptions; vo != nil {
		if vo.Subpath != "" {
			if m.Source == "" {
				return engine.Mount{}, invalid("invalid mount config for type %q: must not set Subpath when using anonymous volumes", m.Type)
			}
			return engine.Mount{}, notImplemented("VolumeOptions.Subpath")
		}
		out.NoCopy = vo.NoCopy
		out.VolumeLabels = vo.Labels
		if dc := vo.DriverConfig; dc != nil {
			if err := checkVolumeDriver(m.Source, dc.Name, dc.Options); err != nil {
				return engine.Mount{}, err
			}
			if len(dc.Options) > 0 {
				out.VolumeOptions = dc.Options
			}
		}
	}
	return out, nil
}

// tmpfsOptions converts TmpfsOptions to mount options as dockerd does:
// mode in octal, size with the largest unit that divides it, then the
// extra flags (exec and noexec only).
func tmpfsOptions(o *mount.TmpfsOptions) ([]string, error) {
	if o == nil {
		return nil, nil
	}
	var opts []string
	if o.Mode != 0 {
		opts = append(opts, fmt.Sprintf("mode=%o", o.Mode))
	}
	if size := o.SizeBytes; size != 0 {
		suffix := ""
		for _, u := range []struct {
			s string
			d int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.d == 0 {
				size, suffix = size/u.d, u.s
				break
			}
		}
		opts = append(opts, fmt.Sprintf("size=%d%s", size, suffix))
	}
	for _, opt := range o.Options {
		if len(opt) < 1 || len(opt) > 2 {
			return nil, fmt.Errorf("invalid option array length")
		}
		if opt[0] != "exec" && opt[0] != "noexec" {
			return nil, fmt.Errorf("invalid option: %s", opt[0])
		}
		opts = append(opts, strings.Join(opt, "="))
	}
	return opts, nil
}

// parseVolumesFrom reads "container[:ro|:rw]" (other mode parts are
// refused, as dockerd does).
func parseVolumesFrom(spec string) (id string, readOnly bool, err error) {
	if spec == "" {
		return "", false, invalid("volumes-from specification cannot be an empty string")
	}
	id, mode, _ := strings.Cut(spec, ":")
	if mode == "" {
		return id, false, nil
	}
	if !validMountMode(mode) || modeHas(mode, propagationModes) != "" || modeHas(mode, copyModes) != "" {
		return "", false, invalid("invalid mode: %s", mode)
	}
	return id, modeHas(mode, rwModes) == "ro", nil
}

// validateMounts checks HostConfig.Mounts before anything else, as dockerd
// does when it verifies the container settings (a missing bind source is
// a 400 there, before the image is looked up).
func validateMounts(hc *container.HostConfig) error {
	for _, m := range hc.Mounts {
		if _, err := convertMount(m, true); err != nil {
			return err
		}
	}
	return nil
}
