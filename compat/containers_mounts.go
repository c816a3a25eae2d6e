package compat

import (
	"context"
	"path"
	"sort"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/hyperbox/hyperbox/engine"
)

// anonymousVolumeLabel marks the volumes dockerd (since 23.0) creates
// without a name; volume prune removes only those unless all=true.
const anonymousVolumeLabel = "com.docker.volume.anonymous"

// containerMounts computes a new container's mounts with dockerd's
// precedence: the mounts of the VolumesFrom containers, replaced by Binds,
// then Mounts (a destination given twice by Binds and Mounts, or by Binds
// and Tmpfs, is an error), then an anonymous volume for each VOLUME of the
// image and of Config.Volumes (`-v /path`) not mounted otherwise.
func (d *Daemon) containerMounts(ctx context.Context, cfg *container.Config, hc *container.HostConfig) ([]engine.Mount, error) {
	points := map[string]engine.Mount{}
	if err := d.volumesFrom(ctx, hc.VolumesFrom, points); err != nil {
		return nil, err
	}
	explicit := map[string]bool{}
	add := func(m engine.Mount, target string) error {
		if explicit[m.Destination] {
			return invalid("Duplicate mount point: %s", target)
		}
		if m.Type == engine.MountVolume {
			if err := checkVolumeName(m.Source); err != nil {
				return err
			}
		}
		if m.Type == engine.MountVolume && m.Source == "" {
			m.Anonymous = true
			m.VolumeLabels = anonymousLabels(m.VolumeLabels)
		}
		explicit[m.Destination] = true
		points[m.Destination] = m
		return nil
	}
	for _, raw := range hc.Binds {
		m, err := parseBind(raw)
		if err != nil {
			return nil, err
		}
		if _, ok := hc.Tmpfs[m.Destination]; ok {
			return nil, invalid("Duplicate mount point: %s", m.Destination)
		}
		if m.Type == engine.MountVolume {
			if err := checkVolumeDriver(m.Source, hc.VolumeDriver, nil); err != nil {
				return nil, err
			}
		}
		if err := add(m, m.Destination); err != nil {
			return nil, err
		}
	}
	for _, spec := range hc.Mounts {
		m, err := convertMount(spec, true)
		if err != nil {
			return nil, err
		}
		if err := add(m, spec.Target); err != nil {
			return nil, err
		}
	}
	if err := imageVolumes(cfg.Volumes, hc, points); err != nil {
		return nil, err
	}
	out := make([]engine.Mount, 0, len(points))
	for _, m := range points {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, nil
}

// volumesFrom copies the mounts of the containers named in VolumesFrom,
// read-only when asked or when they are; the copies never copy image
// files (the volume already has them).
func (d *Daemon) volumesFrom(ctx context.Context, specs []string, points map[string]engine.Mount) error {
	for _, spec := range specs {
		id, ro, err := parseVolumesFrom(spec)
		if err != nil {
			return err
		}
		src, err := d.engine.Get(ctx, id)
		if err != nil {
			if isNotFound(err) {
				return invalid("No such container: %s", id)
			}
			return err
		}
		for _, m := range src.Spec.Mounts {
			m.ReadOnly = m.ReadOnly || ro
			m.NoCopy = true
			m.Mode = "" // dockerd does not copy the mode
			m.VolumeLabels, m.VolumeOptions = nil, nil
			points[m.Destination] = m
		}
	}
	return nil
}

// imageVolumes adds an anonymous volume for each Config.Volumes path (the
// image's VOLUMEs merged with the request's) that nothing else mounts.
func imageVolumes(vols map[string]struct{}, hc *container.HostConfig, points map[string]engine.Mount) error {
	for p := range vols {
		dst := path.Clean(p)
		if _, ok := hc.Tmpfs[dst]; ok {
			continue
		}
		if _, ok := points[dst]; ok {
			continue
		}
		// dockerd accepts these and fails later at start; refuse them now.
		if !path.IsAbs(dst) {
			return invalid("invalid mount path: '%s' mount path must be absolute", p)
		}
		if dst == "/" {
			return invalid("invalid specification: destination can't be '/'")
		}
		if err := checkVolumeDriver("", hc.VolumeDriver, nil); err != nil {
			return err
		}
		points[dst] = engine.Mount{Type: engine.MountVolume, Destination: dst, Anonymous: true,
			VolumeLabels: anonymousLabels(nil)}
	}
	return nil
}

func anonymousLabels(labels map[string]string) map[string]string {
	out := map[string]string{anonymousVolumeLabel: ""}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// mountPoints is the Mounts list of inspect and docker ps, by destination
// (dockerd's order is random).
func mountPoints(c *engine.Container) []container.MountPoint {
	out := make([]container.MountPoint, 0, len(c.Spec.Mounts))
	for _, m := range c.Spec.Mounts {
		mp := container.MountPoint{Type: mount.Type(m.Type), Destination: m.Destination, Mode: m.Mode, RW: !m.ReadOnly}
		switch m.Type {
		case engine.MountBind:
			mp.Source, mp.Propagation = m.Source, mount.Propagation(m.Propagation)
		case engine.MountVolume:
			mp.Name, mp.Source, mp.Driver = m.Source, m.HostPath, m.Driver
		}
		out = append(out, mp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}

// matchVolumeFilter is docker ps's volume filter: some value names a
// mounted volume, the source of an unnamed mount, or a destination.
func matchVolumeFilter(values map[string]bool, c *engine.Container) bool {
	for _, m := range mountPoints(c) {
		key := m.Name
		if key == "" {
			key = m.Source
		}
		if values[key] || values[m.Destination] {
			return true
		}
	}
	return false
}
