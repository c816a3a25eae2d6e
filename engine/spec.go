package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// initMountPath is where the init binary appears in Init containers, as
// with dockerd.
const initMountPath = "/sbin/docker-init"

// defaultCaps is Docker's default capability set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// capabilities computes the container's capability set the way dockerd
// does, then trims it to what this daemon itself holds: a runtime cannot
// grant a capability outside its own bounding set (on these machines
// CAP_SYS_RESOURCE is missing), so asking for it would fail the start.
func capabilities(s *ContainerSpec) ([]string, []string, error) {
	current, err := cap.Current()
	if err != nil {
		return nil, nil, fmt.Errorf("read daemon capabilities: %w", err)
	}
	known := cap.Known()
	var caps []string
	if s.Privileged {
		caps = slices.Clone(current)
	} else {
		adds, drops := map[string]bool{}, map[string]bool{}
		for _, c := range s.CapAdd {
			n := normalizeCap(c)
			if n != "ALL" && !slices.Contains(known, n) {
				return nil, nil, fmt.Errorf("unknown capability: %q: %w", n, errdefs.ErrInvalidArgument)
			}
			adds[n] = true
		}
		for _, c := range s.CapDrop {
			n := normalizeCap(c)
			if n != "ALL" && !slices.Contains(known, n) {
				return nil, nil, fmt.Errorf("unknown capability: %q: %w", n, errdefs.ErrInvalidArgument)
			}
			drops[n] = true
		}
		switch {
		case adds["ALL"]:
			caps = slices.Clone(current)
		case drops["ALL"]:
		default:
			caps = slices.Clone(defaultCaps)
		}
		for c := range adds {
			if c != "ALL" && !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
		caps = slices.DeleteFunc(caps, func(c string) bool { return drops[c] && !adds[c] })
	}
	var warnings []string
	caps = slices.DeleteFunc(caps, func(c string) bool {
		if slices.Contains(current, c) {
			return false
		}
		if !s.Privileged {
			warnings = append(warnings, fmt.Sprintf("capability %s is not available to the daemon and was not granted", c))
		}
		return true
	})
	slices.Sort(caps)
	return caps, warnings, nil
}

// shimGroupAnnotation makes containerd's runc-v2 shim serve every task of
// the same group from one process; shimGroup is ours. The shim's socket is
// derived from containerd's address and the group, so daemons (each with
// its own containerd) never share a shim.
const (
	shimGroupAnnotation = "io.containerd.runc.v2.group"
	shimGroup           = "hyperbox"
)

// shimRuntime is the containerd runtime of the daemon's containers: the
// runc-v2 shim, through cmd/hyperbox-shim when there is one.
func (e *Engine) shimRuntime() string {
	if e.opts.ShimBinary != "" {
		return e.opts.ShimBinary
	}
	return "io.containerd.runc.v2"
}

// specOpts turns a ContainerSpec into OCI spec options, in the order they
// must apply (user lookup reads the snapshot, so it runs after rootfs setup).
func (e *Engine) specOpts(rec *Container) ([]oci.SpecOpts, []string, error) {
	s := &rec.Spec
	caps, warnings, err := capabilities(s)
	if err != nil {
		return nil, nil, err
	}
	args := s.Args
	if s.Init {
		if e.opts.InitPath == "" {
			return nil, nil, fmt.Errorf("--init: no init binary available on this host (install tini): %w", errdefs.ErrFailedPrecondition)
		}
		args = append([]string{initMountPath, "--"}, args...)
	}
	opts := []oci.SpecOpts{
		oci.WithDefaultSpec(),
		oci.WithDefaultUnixDevices,
		// dockerd does not mount a tmpfs on /run.
		oci.WithoutRunMount,
		oci.WithProcessArgs(args...),
		oci.WithEnv(s.Env),
		oci.WithProcessCwd(orDefault(s.WorkingDir, "/")),
		oci.WithHostname(rec.hostname()),
		oci.WithCapabilities(caps),
		withMounts(rec, e.opts.InitPath),
		// One runc-v2 shim serves all of the daemon's containers (the
		// shim groups tasks by this annotation, as CRI does per pod):
		// no shim process to spawn per start, one shim's memory in all.
		oci.WithAnnotations(map[string]string{shimGroupAnnotation: shimGroup}),
	}
	if s.Domainname != "" {
		opts = append(opts, oci.WithDomainname(s.Domainname))
	}
	if s.Tty {
		opts = append(opts, oci.WithTTY)
		if s.ConsoleHeight > 0 && s.ConsoleWidth > 0 {
			opts = append(opts, oci.WithTTYSize(int(s.ConsoleWidth), int(s.ConsoleHeight)))
		}
	}
	if s.User != "" {
		opts = append(opts, oci.WithUser(s.User), oci.WithAdditionalGIDs(userName(s.User)))
	} else {
		opts = append(opts, oci.WithUIDGID(0, 0), oci.WithAdditionalGIDs("root"))
	}
	if s.Privileged {
		opts = append(opts, oci.WithMaskedPaths(nil), oci.WithReadonlyPaths(nil), oci.WithWriteableSysfs,
			oci.WithWriteableCgroupfs, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	}
	if s.ReadonlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if cgroups.Mode() == cgroups.Unified {
		// Private cgroup namespace on cgroup v2, dockerd's default there.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	if s.NetworkMode == "host" {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	opts = append(opts, withResources(s))
	if len(s.Sysctls) > 0 {
		opts = append(opts, withSysctls(s.Sysctls))
	}
	if s.ShmSize > 0 {
		opts = append(opts, oci.WithDevShmSize(s.ShmSize/1024))
	}
	// Debian's crun 1.8 refuses runtime-spec versions newer than it knows
	// ("unknown version specified"); everything we set exists in 1.0.2.
	opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		sp.Version = "1.0.2"
		return nil
	})
	return opts, warnings, nil
}

// withMounts adds the per-container hosts files, tmpfs mounts, volumes and
// binds.
func withMounts(rec *Container, initPath string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		bind := func(src, dst string) specs.Mount {
			o := []string{"rbind", "rprivate"}
			if rec.Spec.ReadonlyRootfs {
				o = append(o, "ro")
			}
			return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: o}
		}
		cgOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
		if rec.Spec.Privileged {
			cgOpts[len(cgOpts)-1] = "rw"
		}
		mounts := []specs.Mount{
			// As with dockerd: the container's own cgroups, read-only.
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
			bind(rec.HostsPath, "/etc/hosts"), bind(rec.ResolvPath, "/etc/resolv.conf"),
		}
		if rec.Spec.NetworkMode != "host" {
			mounts = append(mounts, bind(rec.HostnamePath, "/etc/hostname"))
		}
		if rec.Spec.Init {
			mounts = append(mounts, specs.Mount{Destination: initMountPath, Type: "bind", Source: initPath,
				Options: []string{"rbind", "ro", "rprivate"}})
		}
		for dst, o := range rec.Spec.Tmpfs {
			opts := []string{"nosuid", "nodev", "noexec"}
			if o != "" {
				opts = append(opts, strings.Split(o, ",")...)
			}
			mounts = append(mounts, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: opts})
		}
		sp.Mounts = append(sp.Mounts, mounts...)
		// Volumes, binds and tmpfs mounts, in dockerd's order (engine/mounts.go).
		applyUserMounts(rec, sp)
		return nil
	}
}

func withSysctls(m map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		if sp.Linux.Sysctl == nil {
			sp.Linux.Sysctl = map[string]string{}
		}
		for k, v := range m {
			sp.Linux.Sysctl[k] = v
		}
		return nil
	}
}

func userName(u string) string {
	name, _, _ := strings.Cut(u, ":")
	return name
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (c *Container) hostname() string {
	if c.Spec.Hostname != "" {
		return c.Spec.Hostname
	}
	return c.ID[:12]
}
