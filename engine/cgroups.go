package engine

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"context"
	"github.com/containerd/cgroups/v3"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// cgroupPath is where containerd's default spec puts a container's cgroup.
func (e *Engine) cgroupPath(id string) string { return "/" + e.namespace + "/" + id }

// cgroupOOMKills reads the OOM kill counter of a container's memory cgroup
// (cgroup v1 memory.oom_control or v2 memory.events). It must run before
// the task is deleted, while the cgroup still exists.
func cgroupOOMKills(path string) int {
	candidates := []struct{ file, key string }{
		{filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), "oom_kill"},
		{filepath.Join("/sys/fs/cgroup", path, "memory.events"), "oom_kill"},
	}
	for _, c := range candidates {
		f, err := os.Open(c.file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), " ")
			if ok && k == c.key {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				f.Close()
				return n
			}
		}
		f.Close()
	}
	return 0
}

// PrepareCgroups makes the host's cgroup layout usable by both runtimes.
// On the v1/v2 hybrid layout, crun refuses to run while any controller is
// bound to the v2 hierarchy ("cgroups in hybrid mode not supported, drop all
// controllers from cgroupv2"); controllers sitting on v2 there (hugetlb on
// these machines) are moved to v1 hierarchies of their own, which the kernel
// allows while no v2 cgroup uses them. Pure v1 and pure v2 need nothing.
func PrepareCgroups(ctx context.Context) {
	if cgroups.Mode() != cgroups.Hybrid {
		return
	}
	data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil {
		return
	}
	for _, ctrl := range strings.Fields(string(data)) {
		dir := filepath.Join("/sys/fs/cgroup", ctrl)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.G(ctx).WithError(err).Warnf("cgroup hybrid fix: mkdir %s", dir)
			continue
		}
		if err := unix.Mount("cgroup", dir, "cgroup", 0, ctrl); err != nil {
			log.G(ctx).WithError(err).Warnf("cgroup hybrid fix: cannot move controller %s off cgroup v2; crun may refuse to run", ctrl)
			continue
		}
		log.G(ctx).Infof("cgroup hybrid layout: moved controller %s from cgroup v2 to %s", ctrl, dir)
	}
}
