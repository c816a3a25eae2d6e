package network

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewNamespace creates a network namespace and pins it at path (a bind
// mount of the namespace file), so it outlives this process: containers
// keep their network across a daemon restart.
func NewNamespace(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o400)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread that switched namespaces is thrown away afterwards
		// (not unlocked), so no other goroutine ever runs in the new one.
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer origin.Close()
		ns, err := netns.New()
		if err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		defer ns.Close()
		err = unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "none", unix.MS_BIND, "")
		if rerr := netns.Set(origin); rerr != nil && err == nil {
			err = rerr
		} else if rerr == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("pin network namespace: %w", err)
	}
	return nil
}

// DeleteNamespace unpins and removes a namespace created by NewNamespace.
func DeleteNamespace(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && !os.IsNotExist(err) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// inNamespace runs fn with a netlink handle for the namespace at path.
func inNamespace(path string, fn func(ns netns.NsHandle) error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	return fn(ns)
}
