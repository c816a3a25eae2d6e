// Command memhog makes memory pressure (PSI) in the cgroups it joins: it
// drops its file from the page cache, then it and its children read the
// file through a shared mapping over and over while it holds anonymous
// memory that cannot be reclaimed (tests run without swap). Under a
// memory limit smaller than the file plus that memory, every pass evicts
// and refaults the file's pages: the tasks stall on reclaim and refaults,
// which the kernel accounts as memory pressure in the tasks' cgroup v2
// group (memory.pressure) and system-wide (/proc/pressure/memory).
//
// Usage: memhog -file F [-anon MiB] [-procs N] [-join cgroup.procs,...]
// It runs until killed; the test kills every process of its cgroup.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const childEnv = "MEMHOG_CHILD"

func main() {
	file := flag.String("file", "", "file to read through a shared mapping (not on tmpfs)")
	anonMiB := flag.Int("anon", 0, "anonymous memory to hold, MiB (the first process)")
	procs := flag.Int("procs", 8, "processes reading the file")
	join := flag.String("join", "", "comma-separated cgroup.procs files to write this process's PID to first")
	flag.Parse()
	if err := run(*file, *anonMiB, *procs, *join); err != nil {
		fmt.Fprintln(os.Stderr, "memhog:", err)
		os.Exit(1)
	}
}

func run(file string, anonMiB, procs int, join string) error {
	child := os.Getenv(childEnv) != ""
	if !child {
		for _, p := range strings.Split(join, ",") {
			if p == "" {
				continue
			}
			if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				return fmt.Errorf("join %s: %w", p, err)
			}
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !child {
		// Pages another cgroup already cached stay charged to it: drop
		// them so that every page this workload reads is charged here.
		_ = f.Sync()
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		for i := 1; i < procs; i++ {
			cmd := exec.Command(self, "-file", file)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			cmd.Stderr = os.Stderr
			cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
			if err := cmd.Start(); err != nil {
				return err
			}
		}
	}
	var anon []byte
	if !child && anonMiB > 0 {
		anon = make([]byte, anonMiB<<20)
		for i := range anon {
			anon[i] = 1
		}
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	page := os.Getpagesize()
	sum := byte(0)
	start := (os.Getpid() * 977) % (len(m) / page)
	for i := start; ; i++ {
		sum += m[(i%(len(m)/page))*page]
		if i%(1<<20) == 0 && anon != nil {
			anon[i%len(anon)] = sum // keep it live
		}
	}
}
