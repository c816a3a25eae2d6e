package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// killLeftovers SIGKILLs every process that belongs to the directory root:
// its command line mentions root (containerd, shims, the daemon itself) or its
// root directory or working directory is below root (container processes).
// It returns a description of what it killed.
func killLeftovers(root string) (killed []string, err error) {
	var pids []int
	for round := 0; round < 5; round++ {
		pids = procsUnder(root)
		if len(pids) == 0 {
			return killed, nil
		}
		for _, pid := range pids {
			killed = append(killed, fmt.Sprintf("%d (%s)", pid, cmdline(pid)))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Duration(200*(round+1)) * time.Millisecond)
	}
	var desc []string
	for _, pid := range pids {
		desc = append(desc, fmt.Sprintf("%d (%s)", pid, cmdline(pid)))
	}
	return killed, fmt.Errorf("processes under %s survive SIGKILL: %s", root, strings.Join(desc, ", "))
}

func procsUnder(root string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		if zombie(pid) {
			continue
		}
		if belongs(pid, root) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func belongs(pid int, root string) bool {
	under := func(p string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	if strings.Contains(cmdline(pid), root) {
		return true
	}
	for _, link := range []string{"root", "cwd"} {
		if p, err := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, link)); err == nil && under(p) {
			return true
		}
	}
	return false
}

func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	// The state follows the parenthesised command name, which may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// MountsUnder returns the mount points at or below root, deepest first.
func MountsUnder(root string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == root || strings.HasPrefix(mp, root+"/") {
			mps = append(mps, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(mps, func(i, j int) bool {
		return strings.Count(mps[i], "/") > strings.Count(mps[j], "/")
	})
	return mps, nil
}

// unescapeMountinfo decodes the octal escapes (\040 etc.) of /proc/*/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder lazily unmounts everything mounted at or below root, deepest
// first, repeating while stacked mounts remain.
// UnmountUnder detaches every mount below root, deepest first, retrying a
// few rounds for mounts that reappear; it reports what is still mounted.
func UnmountUnder(root string) error {
	var mps []string
	for round := 0; round < 5; round++ {
		var err error
		mps, err = MountsUnder(root)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
	if len(mps) == 0 {
		return nil
	}
	return errors.New("still mounted after unmounting: " + strings.Join(mps, ", "))
}

// removeCgroups removes the (empty) cgroup directories named name at the top
// of every cgroup hierarchy; it is the --cgroup-parent given to dockerd.
func removeCgroups(name string) {
	var tops []string
	for _, pattern := range []string{"/sys/fs/cgroup/" + name, "/sys/fs/cgroup/*/" + name} {
		m, _ := filepath.Glob(pattern)
		tops = append(tops, m...)
	}
	for _, top := range tops {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.SliceStable(dirs, func(i, j int) bool {
			return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/")
		})
		for _, dir := range dirs {
			_ = syscall.Rmdir(dir)
		}
	}
}
