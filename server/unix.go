package server

import (
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

func umask(m int) int { return syscall.Umask(m) }

func dirOf(p string) string { return filepath.Dir(p) }

// lookupGroup returns the gid of group, or -1 when it does not exist.
func lookupGroup(group string) int {
	if group == "" {
		return -1
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return gid
}
