package engine

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hyperbox/hyperbox/engine/internal/fsview"
)

// openInRoot opens path inside the directory root without ever leaving it:
// symlinks and ".." are resolved as if root were "/" (openat2
// RESOLVE_IN_ROOT), so a hostile container cannot point us at host files.
func openInRoot(root, path string) (*os.File, error) {
	dirfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	return fsview.OpenInRoot(dirfd, path, unix.O_RDONLY)
}

// resolveUser turns "name", "uid", "name:group" or "uid:gid" into the
// process user, reading /etc/passwd and /etc/group inside the running
// container (pid's root).
func resolveUser(pid int, spec string) (specs.User, error) {
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	var passwd, group io.Reader
	if f, err := openInRoot(root, "/etc/passwd"); err == nil {
		defer f.Close()
		passwd = f
	}
	if f, err := openInRoot(root, "/etc/group"); err == nil {
		defer f.Close()
		group = f
	}
	eu, err := user.GetExecUser(spec, &user.ExecUser{}, passwd, group)
	if err != nil {
		return specs.User{}, fmt.Errorf("unable to find user %s: %w", spec, errdefs.ErrInvalidArgument)
	}
	u := specs.User{UID: uint32(eu.Uid), GID: uint32(eu.Gid)}
	for _, g := range eu.Sgids {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	return u, nil
}

func removeFile(p string) error { return os.Remove(p) }
