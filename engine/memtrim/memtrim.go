// Package memtrim gives back the pages of a process's own executable that
// its start-up touched and that it may not need again.
//
// A Go daemon's start-up runs every package's initialisation and reads
// type and registration data from all over its binary; the kernel maps the
// neighbours of every page it faults in as well (fault-around). For
// hyperboxd (which embeds BuildKit) and its containerd that is about 30 MiB
// each, most of their resident memory, though an idle daemon uses a small
// part of it afterwards. MADV_PAGEOUT through process_madvise(2) (Linux
// 5.10) unmaps those pages from the process and lets the kernel reclaim
// them; the ones it uses again fault back in, from the page cache or disk.
// Only read-only mappings of the executable are touched: nothing that
// holds state, and nothing shared with another process (the kernel skips
// pages mapped elsewhere).
package memtrim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PageOutExecutable advises the kernel to page out pid's read-only
// mappings of its own executable (0: this process). It returns the
// process's resident file-backed memory before and after, in bytes.
func PageOutExecutable(pid int) (before, after int64, err error) {
	if pid == 0 {
		pid = os.Getpid()
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, 0, err
	}
	ranges, err := executableRanges(pid, exe)
	if err != nil {
		return 0, 0, err
	}
	if len(ranges) == 0 {
		return 0, 0, fmt.Errorf("no read-only mapping of %s in process %d", exe, pid)
	}
	before = RSSFile(pid)
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return before, before, fmt.Errorf("pidfd_open: %w", err)
	}
	defer unix.Close(fd)
	// struct iovec, with the addresses of the other process as numbers.
	type iovec struct{ base, len uintptr }
	iov := make([]iovec, len(ranges))
	for i, r := range ranges {
		iov[i] = iovec{r[0], r[1] - r[0]}
	}
	for len(iov) > 0 {
		n := min(len(iov), 1024) // IOV_MAX
		if _, _, e := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n), unix.MADV_PAGEOUT, 0, 0); e != 0 {
			return before, RSSFile(pid), fmt.Errorf("process_madvise: %w", e)
		}
		iov = iov[n:]
	}
	return before, RSSFile(pid), nil
}

// executableRanges lists [start, end) of pid's mappings of exe that are
// not writable.
func executableRanges(pid int, exe string) ([][2]uintptr, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			continue
		}
		out = append(out, [2]uintptr{uintptr(s), uintptr(e)})
	}
	return out, sc.Err()
}

// RSSFile is pid's resident file-backed memory in bytes (RssFile in
// /proc/PID/status), or 0 when it cannot be read.
func RSSFile(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Idle runs a trim once a busy spell has been followed by quiet: after
// start-up, and then each time the daemon has had no activity (Touch) for
// a while after having had some.
type Idle struct {
	last atomic.Int64 // unix nanoseconds of the last Touch
	// done is the last Touch time a trim has run after.
	done int64
}

// Touch records activity.
func (i *Idle) Touch() { i.last.Store(time.Now().UnixNano()) }

// Run calls trim whenever quiet has lasted for quiet since the last
// activity that no trim followed yet, until ctx ends.
func (i *Idle) Run(ctx context.Context, quiet time.Duration, trim func()) {
	i.Touch()
	t := time.NewTicker(min(quiet/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last := i.last.Load()
			if last != i.done && time.Since(time.Unix(0, last)) >= quiet {
				trim()
				i.done = last
			}
		}
	}
}
