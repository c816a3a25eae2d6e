package engine

import (
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ociMounts are rec's mounts as OCI mounts, parents before children.
func ociMounts(rec *Container) []specs.Mount {
	out := make([]specs.Mount, 0, len(rec.Spec.Mounts))
	for _, m := range rec.Spec.Mounts {
		switch m.Type {
		case MountBind, MountVolume:
			o := []string{"rbind"}
			if m.NonRecursive {
				o[0] = "bind"
			}
			if m.ReadOnly {
				o = append(o, "ro")
			}
			o = append(o, orDefault(m.Propagation, "rprivate"))
			out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.HostPath, Options: o})
		case MountTmpfs:
			opts := m.TmpfsOptions
			if m.ReadOnly {
				opts = append(slices.Clone(opts), "ro")
			}
			out = append(out, tmpfsMount(m.Destination, opts))
		}
	}
	return out
}

// tmpfsMount is a tmpfs with dockerd's defaults (nosuid, nodev, noexec)
// and opts, where "exec" lifts noexec.
func tmpfsMount(dst string, opts []string) specs.Mount {
	o := []string{"nosuid", "nodev", "noexec"}
	for _, opt := range opts {
		if opt == "exec" {
			o = slices.DeleteFunc(o, func(s string) bool { return s == "noexec" })
		}
		o = append(o, opt)
	}
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: o}
}

// applyUserMounts puts rec's volumes, binds and tmpfs mounts into the spec
// in dockerd's order: the runtime's default mounts (those the user mounts
// over are dropped), then the user's mounts and HostConfig tmpfs mounts
// together, parents before children, then the hosts files and the init
// binary (unless the user mounts over them). Shared or slave propagation
// makes the root's propagation follow, as dockerd sets it.
func applyUserMounts(rec *Container, sp *oci.Spec) {
	user := ociMounts(rec)
	if len(user) == 0 {
		return
	}
	dests := map[string]bool{}
	for _, m := range user {
		dests[m.Destination] = true
	}
	hostFile := map[string]bool{rec.HostsPath: true, rec.ResolvPath: true, rec.HostnamePath: true}
	delete(hostFile, "")
	var kept, late, sorted []specs.Mount
	for _, m := range sp.Mounts {
		switch {
		case dests[m.Destination]:
		case m.Type == "bind" && hostFile[m.Source], m.Destination == initMountPath:
			late = append(late, m)
		case m.Type == "tmpfs" && hasKey(rec.Spec.Tmpfs, m.Destination):
			sorted = append(sorted, m)
		default:
			kept = append(kept, m)
		}
	}
	sorted = append(sorted, user...)
	sort.SliceStable(sorted, func(i, j int) bool { return depth(sorted[i].Destination) < depth(sorted[j].Destination) })
	sp.Mounts = append(append(kept, sorted...), late...)
	if sp.Linux != nil {
		if p := rootfsPropagation(rec.Spec.Mounts); p != "" {
			sp.Linux.RootfsPropagation = p
		}
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// rootfsPropagation is the root mount propagation that shared or slave
// binds need ("" = the runtime's default).
func rootfsPropagation(ms []Mount) string {
	p := ""
	for _, m := range ms {
		switch m.Propagation {
		case "shared", "rshared":
			return "rshared"
		case "slave", "rslave":
			p = "rslave"
		}
	}
	return p
}
