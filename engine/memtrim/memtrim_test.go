package memtrim

import (
	"context"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

// Paging out the test binary's own pages lowers its resident file-backed
// memory, and the process goes on working (pages fault back in).
func TestPageOutSelf(t *testing.T) {
	before, after, err := PageOutExecutable(0)
	if err != nil {
		t.Fatal(err)
	}
	if before <= 0 || after >= before {
		t.Fatalf("RssFile before %d, after %d: nothing was paged out", before, after)
	}
	t.Logf("RssFile %d KiB -> %d KiB", before>>10, after>>10)
}

// Another process's pages: a child sleeping in a copy of this binary.
func TestPageOutChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("process_madvise on another process needs CAP_SYS_NICE")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MEMTRIM_HELPER=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(300 * time.Millisecond) // let it start up
	before, after, err := PageOutExecutable(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The child shares its pages with this process (same binary); the
	// kernel leaves those alone, so only check that the call works and
	// does not grow anything.
	if after > before {
		t.Fatalf("RssFile grew: %d -> %d", before, after)
	}
	if _, _, err := PageOutExecutable(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// TestMain doubles as the child of TestPageOutChild: it only sleeps.
func TestMain(m *testing.M) {
	if os.Getenv("MEMTRIM_HELPER") == "1" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A trim follows each busy spell once quiet has lasted, and only then.
func TestIdle(t *testing.T) {
	var i Idle
	var trims atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go i.Run(ctx, 100*time.Millisecond, func() { trims.Add(1) })
	waitFor := func(n int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); trims.Load() < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d trims, want %d", trims.Load(), n)
			}
		}
	}
	waitFor(1) // start-up counts as activity
	time.Sleep(400 * time.Millisecond)
	if n := trims.Load(); n != 1 {
		t.Fatalf("%d trims without activity, want 1", n)
	}
	// Activity that keeps going postpones the trim.
	for range 6 {
		i.Touch()
		time.Sleep(40 * time.Millisecond)
	}
	if n := trims.Load(); n != 1 {
		t.Fatalf("trimmed while busy: %d", n)
	}
	waitFor(2)
}
