package dnsserver

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/skip"
)

// newNetns creates a network namespace bound to a file under a temporary
// directory, with lo up when loUp is set, and removes it at cleanup. It
// stands in for a container's namespace.
func newNetns(t *testing.T, loUp bool) string {
	t.Helper()
	skip.If(t, os.Getuid() != 0, "needs root")
	path := filepath.Join(t.TempDir(), "netns")
	f, err := os.Create(path)
	assert.NilError(t, err)
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread is left locked and in the new namespace: the runtime
		// ends it when this goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
			errc <- err
			return
		}
		if loUp {
			lo, err := netlink.LinkByName("lo")
			if err == nil {
				err = netlink.LinkSetUp(lo)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	assert.NilError(t, <-errc)
	t.Cleanup(func() {
		assert.Check(t, unix.Unmount(path, unix.MNT_DETACH))
	})
	return path
}

// inNetns runs fn on a thread inside the namespace at path. Sockets fn
// creates stay in that namespace.
func inNetns(t *testing.T, path string, fn func()) {
	t.Helper()
	target, err := netns.GetFromPath(path)
	assert.NilError(t, err)
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			errc <- err // the thread dies locked
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	assert.NilError(t, <-errc)
}

// dialInNetns opens a connection to 127.0.0.11:53 from inside the
// namespace.
func dialInNetns(t *testing.T, path, network string) (net.Conn, error) {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	inNetns(t, path, func() { c, err = net.Dial(network, "127.0.0.11:53") })
	return c, err
}

func linkUp(t *testing.T, path, name string) bool {
	t.Helper()
	var up bool
	inNetns(t, path, func() {
		l, err := netlink.LinkByName(name)
		assert.Check(t, err)
		up = err == nil && l.Attrs().Flags&net.FlagUp != 0
	})
	return up
}
