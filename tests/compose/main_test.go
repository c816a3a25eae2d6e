// Package compose runs the real `docker compose` v2 plugin (pinned in
// tests/tools/compose, built by `make compose`) against the daemon under
// test, on the projects in testdata/. Each test copies its project to a
// temporary directory, runs it under a unique project name and always ends
// with `down -v --remove-orphans`.
//
// With HYPERBOX_TEST_TARGET=dockerd the same tests run against dockerd with
// its networking on (daemon.WithNetworking), which proves the expectations
// are Docker's.
package compose

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	"gotest.tools/v3/fs"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// shared is the daemon all tests of this package use.
var shared *daemon.Daemon

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run starts the shared daemon and, after the tests, checks that the host
// has nothing left of it: no interface, netns, mount, listener or firewall
// rule that was not there before and names something of the projects the
// tests ran (see footprints).
func run(m *testing.M) int {
	before, err := daemon.SnapshotHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "host snapshot: %v\n", err)
		return 1
	}
	code := daemon.Main(m, func(d *daemon.Daemon) error {
		shared = d
		if err := d.InstallComposePlugin(); err != nil {
			return err
		}
		// compose builds through buildx (bake), as on users' machines.
		if err := d.InstallBuildxPlugin(); err != nil {
			return err
		}
		return loadBusybox(d)
	}, daemon.WithNetworking())
	if shared == nil {
		return code
	}
	after, err := daemon.SnapshotHost()
	if err != nil {
		fmt.Fprintf(os.Stderr, "host snapshot: %v\n", err)
		return 1
	}
	mine, others := hostDiff(before, after, allTokens(), shared.Root())
	// Subnets are reused: a rule of another daemon running on the host at
	// the same time (a different engine's chains and bridges) can name one
	// of our subnets. Those are not ours.
	var kept []string
	for _, l := range mine {
		if foreign(l, shared.Target()) {
			others = append(others, l)
			continue
		}
		kept = append(kept, l)
	}
	mine = kept
	if len(others) > 0 {
		fmt.Fprintf(os.Stderr, "note: changed on the host during the tests, naming nothing of ours (another program's?):\n%s\n", strings.Join(others, "\n"))
	}
	if len(mine) > 0 {
		fmt.Fprintf(os.Stderr, "left on the host after the %s daemon stopped:\n%s\n", shared.Target(), strings.Join(mine, "\n"))
		return 1
	}
	return code
}

// loadBusybox loads busybox:latest, built from the host's busybox-static.
func loadBusybox(d *daemon.Daemon) error { return d.LoadBusybox("busybox:latest") }

// setup returns the shared daemon and prints its log if the test fails.
func setup(t *testing.T) *daemon.Daemon {
	t.Helper()
	skip.If(t, shared == nil, "no daemon in -short mode")
	shared.LogOnFailure(t)
	return shared
}

// project is a compose project copied from testdata/<name> to a temporary
// directory, run under a unique project name.
type project struct {
	d    *daemon.Daemon
	name string   // -p
	dir  string   // project directory (holds compose.yaml)
	env  []string // extra environment, e.g. values for ${VAR} in compose.yaml
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newProject copies testdata/<testdata> and registers `down -v
// --remove-orphans` (after printing `ps` and `logs` if the test failed).
func newProject(t *testing.T, d *daemon.Daemon, testdata string, env ...string) *project {
	t.Helper()
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(n) > 30 {
		n = strings.Trim(n[len(n)-30:], "-")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p := &project{
		d:    d,
		name: "hbx-" + n + "-" + hex.EncodeToString(b),
		dir:  fs.NewDir(t, "compose", fs.FromDir(filepath.Join("testdata", testdata))).Path(),
		env:  env,
	}
	t.Cleanup(func() {
		// Bounded, so that a daemon that hangs costs a minute, not ten.
		if t.Failed() {
			t.Logf("ps:\n%s", icmd.RunCmd(p.command(20*time.Second, "ps", "-a")).Combined())
			t.Logf("logs:\n%s", icmd.RunCmd(p.command(20*time.Second, "logs", "--no-color", "--timestamps")).Combined())
		}
		p.footprint()
		res := icmd.RunCmd(p.command(time.Minute, "down", "-v", "--remove-orphans", "-t", "3"))
		if res.ExitCode != 0 || timedOut(res) {
			t.Errorf("compose down: %s", res.String())
		}
	})
	return p
}

// composeTimeout bounds one `docker compose` command.
const composeTimeout = 2 * time.Minute

// command returns `docker compose -p <name> args...`, run in the project
// directory with COMPOSE_* variables of the test's environment dropped and
// limited to limit by coreutils timeout: the docker CLI runs the plugin as a
// child process, and killing the CLI alone (icmd's own timeout) would leave
// the plugin running and icmd waiting for the output pipes it holds. timeout
// signals the whole process group (exit status 124 on timeout).
func (p *project) command(limit time.Duration, args ...string) icmd.Cmd {
	var env []string
	for _, kv := range p.d.Env() {
		if !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	secs := strconv.Itoa(int(limit / time.Second))
	return icmd.Cmd{
		Command: append([]string{"timeout", "-k", "5", secs, daemon.CLIPath(), "compose", "-p", p.name}, args...),
		Env:     append(env, p.env...),
		Dir:     p.dir,
		Timeout: limit + 15*time.Second,
	}
}

// timedOut reports whether a command from command() ran out of time.
func timedOut(res *icmd.Result) bool {
	return res.Timeout || res.ExitCode == 124 || res.ExitCode == 137
}

// run runs `docker compose args...` without logging it (cleanup, polling).
func (p *project) run(args ...string) *icmd.Result {
	return icmd.RunCmd(p.command(composeTimeout, args...))
}

// compose runs `docker compose args...`, logging the command line.
func (p *project) compose(t *testing.T, args ...string) *icmd.Result {
	t.Helper()
	t.Logf("$ docker compose -p %s %s", p.name, strings.Join(args, " "))
	return p.run(args...)
}

// ok runs `docker compose args...` and asserts it succeeded.
func (p *project) ok(t *testing.T, args ...string) *icmd.Result {
	t.Helper()
	res := p.compose(t, args...)
	assert.Assert(t, !timedOut(res), "docker compose %s timed out: %s", strings.Join(args, " "), res.String())
	assert.Assert(t, res.ExitCode == 0, "docker compose %s: %s", strings.Join(args, " "), res.String())
	return res
}

// psEntry is one line of `docker compose ps --format json`.
type psEntry struct {
	ID         string
	Name       string
	Service    string
	State      string
	Health     string
	ExitCode   int
	Publishers []struct {
		URL           string
		TargetPort    int
		PublishedPort int
		Protocol      string
	}
}

// ps returns `docker compose ps --format json [args]`, one entry per container.
func (p *project) ps(t *testing.T, args ...string) []psEntry {
	t.Helper()
	res := p.ok(t, append([]string{"ps", "--format", "json"}, args...)...)
	var out []psEntry
	for _, l := range lines(res.Stdout()) {
		var e psEntry
		assert.NilError(t, json.Unmarshal([]byte(l), &e), "ps line %q", l)
		out = append(out, e)
	}
	return out
}

// containerIDs returns the IDs of the service's containers (`ps -q svc`).
func (p *project) containerIDs(t *testing.T, service string) []string {
	t.Helper()
	return lines(p.ok(t, "ps", "-q", service).Stdout())
}

// waitForLogs polls `docker compose logs service` until it contains s.
func (p *project) waitForLogs(t *testing.T, service, s string) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := p.run("logs", "--no-color", service)
		if res.ExitCode != 0 {
			return poll.Error(fmt.Errorf("compose logs %s: %s", service, res.Combined()))
		}
		if !strings.Contains(res.Stdout(), s) {
			return poll.Continue("logs of %s do not contain %q yet:\n%s", service, s, res.Combined())
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(200*time.Millisecond))
}

// fetchInService polls `docker compose exec -T service wget -q -O - url`
// until it prints want.
func (p *project) fetchInService(t *testing.T, service, url, want string) {
	t.Helper()
	t.Logf("$ docker compose -p %s exec -T %s wget -q -O - %s   (until it prints %q)", p.name, service, url, want)
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		res := p.run("exec", "-T", service, "wget", "-q", "-O", "-", url)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout(), want) {
			return poll.Continue("wget %s in %s: %s", url, service, res.Combined())
		}
		return poll.Success()
	}, poll.WithTimeout(30*time.Second), poll.WithDelay(300*time.Millisecond))
}

// inspect returns `docker inspect --format format target`, trimmed.
func inspect(t *testing.T, d *daemon.Daemon, format, target string) string {
	t.Helper()
	res := d.Cmd(t, "inspect", "--format", format, target)
	res.Assert(t, icmd.Success)
	return strings.TrimSpace(res.Stdout())
}

// freePort returns a TCP port nothing listens on now, on any address.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	assert.NilError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	assert.NilError(t, l.Close())
	return port
}

// publishedPort returns the host port of `docker compose port service
// target`, which prints e.g. "0.0.0.0:32768".
func (p *project) publishedPort(t *testing.T, service, target string) int {
	t.Helper()
	out := strings.TrimSpace(p.ok(t, "port", service, target).Stdout())
	i := strings.LastIndexByte(out, ':')
	assert.Assert(t, i >= 0, "compose port %s %s printed %q", service, target, out)
	port, err := strconv.Atoi(out[i+1:])
	assert.NilError(t, err, "compose port %s %s printed %q", service, target, out)
	assert.Assert(t, port > 0, "compose port %s %s printed %q", service, target, out)
	return port
}

// lines splits output into non-empty trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// services returns the sorted "service state" pairs of a ps listing.
func services(entries []psEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Service+" "+e.State)
	}
	slices.Sort(out)
	return out
}

// foreign reports whether a host change names another engine's objects:
// dockerd's DOCKER* chains and br-/dbr-/docker0 bridges for hyperboxd, and
// hyperboxd's HYPERBOX-* chains and hb bridges for dockerd.
func foreign(line, target string) bool {
	if target == daemon.TargetDockerd {
		return strings.Contains(line, "HYPERBOX") || strings.Contains(line, " hb") || strings.Contains(line, `"hb`)
	}
	for _, s := range []string{"DOCKER", "docker0", "br-", "dbr-"} {
		if strings.Contains(line, s) {
			return !strings.Contains(line, "hb-") && !strings.Contains(line, "HYPERBOX")
		}
	}
	return false
}
