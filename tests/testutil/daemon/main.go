package daemon

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Main runs a test binary against one shared daemon: it starts the daemon,
// calls setup (e.g. to store it in a package variable and load images), runs
// the tests, prints the tail of the daemon log if they failed, and tears the
// daemon down. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(daemon.Main(m, func(d *daemon.Daemon) error { shared = d; return nil })) }
//
// With -short no daemon is started and setup is not called; tests should skip
// when their daemon is nil. Options (WithArgs, WithNetworking) apply to the
// shared daemon.
func Main(m *testing.M, setup func(*Daemon) error, opts ...Option) int {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "daemon tests skipped in -short mode")
		return m.Run()
	}
	d, err := Launch(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting %s: %v\n", Target(), err)
		return 1
	}
	code := func() int {
		if setup != nil {
			if err := setup(d); err != nil {
				fmt.Fprintf(os.Stderr, "test setup against %s: %v\nlast 100 lines of the daemon log:\n%s\n", d.target, err, d.LogTail(100))
				return 1
			}
		}
		return m.Run()
	}()
	if code != 0 {
		label := filepath.Base(os.Args[0])
		fmt.Fprintf(os.Stderr, "last 100 lines of the %s log (full log kept at %s):\n%s\n", d.target, d.SaveLog(label), d.LogTail(100))
	}
	if err := d.Shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "daemon teardown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
