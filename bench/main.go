// Command bench measures a Docker-API daemon (hyperboxd) against a reference
// (Debian's dockerd) with the official Go client, scenario by scenario,
// interleaving the two daemons iteration by iteration (A/B/A/B) so both see
// the same machine noise. It prints median, p90 and the ratio
// HyperBox/reference per scenario and writes the results as JSON.
//
// It starts its own hyperboxd (bin/hyperboxd, or $HYPERBOXD) on a private
// socket, data-root and exec-root with the test harness (tests/testutil/daemon)
// unless HYPERBOX_DOCKER_HOST is set. The reference is REFERENCE_DOCKER_HOST
// when set, else (with -reference=auto) a dockerd the harness starts on its
// own socket, data-root, exec-root, pidfile and cgroup parent, with
// --bridge=none --iptables=false (see -network). Everything it starts or
// creates is removed at the end.
//
// Run it from the repository root: make bench, make bench-smoke.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
)

// Environment variables read by the benchmark.
const (
	envHyperboxHost  = "HYPERBOX_DOCKER_HOST"
	envReferenceHost = "REFERENCE_DOCKER_HOST"
)

func main() {
	os.Exit(run())
}

func cliPath() string { return daemon.CLIPath() }

type options struct {
	n         int
	smoke     bool
	jsonOut   string
	filter    []string
	reference string
	network   string
	hbArgs    string
	refArgs   string
	noEvents  bool
}

func parseFlags() options {
	var o options
	var filter string
	flag.IntVar(&o.n, "n", 10, "iterations per scenario (fast operations repeat several times per iteration)")
	flag.BoolVar(&o.smoke, "smoke", false, "one iteration, small sizes, hyperboxd only; exit non-zero if any scenario fails")
	flag.StringVar(&o.jsonOut, "json", "", "write results as JSON to this file")
	flag.StringVar(&filter, "scenarios", "", "comma-separated scenario names to run (default all): "+
		"mem-idle,run-rm,run-phases,start-concurrent,exec,many,logs,stop,load-small,load-big,pull,compose,floor")
	flag.StringVar(&o.reference, "reference", "auto", "reference daemon: auto ($"+envReferenceHost+", else dockerd if installed), dockerd, or off")
	flag.StringVar(&o.network, "network", "none", "container networking: none (containers get --network none on both daemons; "+
		"dockerd runs with --bridge=none --iptables=false) or bridge (each daemon's default bridge; dockerd gets a bridge of its own and programs iptables)")
	flag.StringVar(&o.hbArgs, "hyperbox-args", "", "extra hyperboxd flags (space-separated), e.g. \"--default-runtime runc\"")
	flag.StringVar(&o.refArgs, "reference-args", "", "extra dockerd flags (space-separated)")
	flag.BoolVar(&keepLogs, "keep-logs", false, "keep the logs of the daemons the benchmark starts (under $TMPDIR/hyperbox-test-logs)")
	flag.BoolVar(&o.noEvents, "no-events", false, "do not subscribe to the daemons' containerd task events (no start-path sub-phases)")
	flag.Parse()
	if filter != "" {
		o.filter = strings.Split(filter, ",")
	}
	return o
}

func run() int {
	o := parseFlags()
	taskEventsOff = o.noEvents
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sz = sizes{concurrent: 20, many: 50, logLines: 100000, bigMB: 200, smallMB: 2, reps: 3, settle: 10 * time.Second}
	if o.smoke {
		o.n = 1
		sz = sizes{concurrent: 5, many: 5, logLines: 1000, bigMB: 20, smallMB: 1, reps: 2}
		if o.reference == "auto" {
			o.reference = "off"
		}
	}
	switch o.network {
	case "none":
		netMode = container.NetworkMode("none")
	case "bridge":
		netMode = ""
	default:
		fmt.Fprintf(os.Stderr, "-network %q: want none or bridge\n", o.network)
		return 2
	}
	if o.n < 1 {
		o.n = 1
	}
	start := time.Now()
	logf("building images (%d MB random layer) and the local registry", sz.bigMB)
	fx, err := buildFixtures(sz.bigMB, sz.smallMB)
	if err != nil {
		fmt.Fprintf(os.Stderr, "building images: %v\n", err)
		return 1
	}
	defer fx.close()

	targets, err := startTargets(ctx, o)
	defer func() {
		for _, t := range targets {
			logf("stopping %s and removing its data", t.label)
			if err := t.close(); err != nil {
				fmt.Fprintf(os.Stderr, "%v\n", err)
			}
		}
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	rep := &report{Date: time.Now().UTC(), Iterations: o.n, Smoke: o.smoke, Network: o.network,
		Hosts: map[string]string{}, Versions: map[string]string{}, Kernel: kernel(), CPUs: runtime.NumCPU()}
	for _, t := range targets {
		rep.Hosts[t.label] = t.host
		rep.Versions[t.label] = t.version(ctx)
		logf("%s: %s at %s; loading busybox", t.label, rep.Versions[t.label], t.host)
		if err := loadArchive(ctx, t, fx.busyboxTar, busyboxTag); err != nil {
			fmt.Fprintf(os.Stderr, "%s: loading busybox: %v\n", t.label, err)
			return 1
		}
	}

	failed := false
	for _, s := range scenarios(fx, o.n) {
		if !selected(o.filter, s.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		rs := runScenario(ctx, s, targets, o.n)
		for _, r := range rs {
			if r.Error != "" {
				failed = true
			}
		}
		rep.Results = append(rep.Results, rs...)
	}
	rep.Results = append(rep.Results, perContainer(rep.Results)...)
	if err := checkPrewarm(rep.Results); err != nil && !o.smoke {
		// One sample each in smoke mode is too noisy to assert on.
		fmt.Fprintf(os.Stderr, "%v\n", err)
		failed = true
	}

	fmt.Printf("\nn=%d iterations, network=%s, %d CPUs, kernel %s\n", o.n, o.network, rep.CPUs, rep.Kernel)
	for _, t := range targets {
		fmt.Printf("%s: %s\n", t.label, rep.Versions[t.label])
	}
	fmt.Println()
	printTable(os.Stdout, rep.Results)
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, rep); err != nil {
			fmt.Fprintf(os.Stderr, "writing %s: %v\n", o.jsonOut, err)
			failed = true
		} else {
			logf("wrote %s", o.jsonOut)
		}
	}
	logf("done in %s", time.Since(start).Round(time.Second))
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func selected(filter []string, name string) bool {
	if len(filter) == 0 {
		return true
	}
	for _, f := range filter {
		if strings.TrimSpace(f) == name {
			return true
		}
	}
	return false
}

// startTargets starts (or connects to) hyperboxd and the reference. The
// targets started so far are returned even on error, for cleanup.
func startTargets(ctx context.Context, o options) ([]*target, error) {
	var targets []*target
	logf("starting hyperboxd")
	// The prewarm pool is off by default; the benchmark turns it on so its
	// "prewarm" scenario compares pool hits with misses.
	hbArgs := append([]string{"--prewarm"}, strings.Fields(o.hbArgs)...)
	hb, err := launchTarget(ctx, "hyperbox", daemon.TargetHyperbox, os.Getenv(envHyperboxHost), hbArgs, false)
	if err != nil {
		return targets, err
	}
	targets = append(targets, hb)
	refHost := os.Getenv(envReferenceHost)
	switch {
	case o.reference == "off":
		return targets, nil
	case refHost != "" && o.reference == "auto":
	case o.reference == "auto" || o.reference == "dockerd":
		refHost = ""
		if _, err := exec.LookPath("dockerd"); err != nil {
			if o.reference == "dockerd" {
				return targets, fmt.Errorf("-reference=dockerd: %w", err)
			}
			logf("no reference: dockerd not installed and $%s not set", envReferenceHost)
			return targets, nil
		}
	default:
		return targets, fmt.Errorf("-reference %q: want auto, dockerd or off", o.reference)
	}
	logf("starting the reference (%s)", map[bool]string{true: "dockerd", false: refHost}[refHost == ""])
	ref, err := launchTarget(ctx, "reference", daemon.TargetDockerd, refHost, strings.Fields(o.refArgs), o.network == "bridge")
	if err != nil {
		return targets, err
	}
	return append(targets, ref), nil
}

// loadArchive loads a docker-save archive and checks that tag came with it.
func loadArchive(ctx context.Context, t *target, path, tag string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := t.c.ImageLoad(ctx, f)
	if err != nil {
		return err
	}
	body, err := readStream(res)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(tag)) {
		return fmt.Errorf("load: %q not in %s", tag, body)
	}
	return nil
}

// perContainer derives the memory cost per running container from the idle
// and loaded memory rows, for each memory kind.
func perContainer(rs []*result) []*result {
	var out []*result
	for _, kind := range memKinds {
		var idle, loaded *result
		for _, r := range rs {
			switch {
			case r.Scenario == "memory, idle ("+kind+")":
				idle = r
			case strings.HasPrefix(r.Scenario, "memory, ") && strings.HasSuffix(r.Scenario, " running ("+kind+")"):
				loaded = r
			}
		}
		if idle == nil || loaded == nil {
			continue
		}
		var k int
		fmt.Sscanf(loaded.Scenario, "memory, %d running", &k)
		if k == 0 {
			continue
		}
		diff := func(a, b *stats) *stats {
			if a == nil || b == nil {
				return nil
			}
			return summarize([]float64{(b.Median - a.Median) / float64(k)})
		}
		r := &result{Scenario: "memory per running container (" + kind + ")", Unit: "MiB",
			Hyperbox: diff(idle.Hyperbox, loaded.Hyperbox), Reference: diff(idle.Reference, loaded.Reference)}
		if kind == memKinds[0] {
			r.Note = "(median with the containers - median idle) / containers"
		}
		if r.Hyperbox != nil && r.Reference != nil && r.Reference.Median > 0 {
			r.Ratio = r.Hyperbox.Median / r.Reference.Median
		}
		out = append(out, r)
	}
	return out
}
