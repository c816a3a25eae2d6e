package compose

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/icmd"
)

// The host this suite runs on may be shared with other daemons that change
// interfaces, rules and listeners of their own while the tests run. So a
// before/after difference counts as a leak of ours when it names something a
// project of ours had: a container ID or host-side veth, a network's ID or
// bridge, a published host port, a volume; or when it
// is a mount under the daemon's directory.

// footprints collects the identifiers of every project the suite ran.
var footprints = struct {
	sync.Mutex
	tokens map[string]bool
}{tokens: map[string]bool{}}

func addTokens(tokens []string) {
	footprints.Lock()
	defer footprints.Unlock()
	for _, tok := range tokens {
		if tok != "" {
			footprints.tokens[tok] = true
		}
	}
}

func allTokens() []string {
	footprints.Lock()
	defer footprints.Unlock()
	var out []string
	for tok := range footprints.tokens {
		out = append(out, tok)
	}
	return out
}

// footprint returns the identifiers of what the project now has on the
// daemon and the host (see above), and adds them to footprints. It asks the
// daemon through the CLI and does not fail the test: it also runs in cleanup.
func (p *project) footprint() []string {
	var tokens []string
	label := "label=com.docker.compose.project=" + p.name
	hostIfaces := daemon.HostInterfaces()
	run := func(args ...string) *icmd.Result {
		return icmd.RunCmd(p.d.Command(args...), icmd.WithTimeout(20*time.Second))
	}
	list := run("ps", "-a", "-q", "--no-trunc", "--filter", label)
	if list.Timeout {
		return nil // the daemon hangs: the test has failed already
	}
	for _, id := range lines(list.Stdout()) {
		if len(id) < 12 {
			continue
		}
		tokens = append(tokens, id, id[:12])
		var c []struct {
			NetworkSettings struct {
				Ports map[string][]struct{ HostPort string }
			}
		}
		if json.Unmarshal([]byte(run("inspect", id).Stdout()), &c) != nil || len(c) != 1 {
			continue
		}
		for _, bindings := range c[0].NetworkSettings.Ports {
			for _, b := range bindings {
				tokens = append(tokens, b.HostPort)
			}
		}
		// The host side of each of the container's veth pairs.
		peers := run("exec", id, "sh", "-c",
			`for i in /sys/class/net/*; do [ "$(cat $i/iflink)" != "$(cat $i/ifindex)" ] && cat $i/iflink; done`)
		for _, idx := range lines(peers.Stdout()) {
			tokens = append(tokens, hostIfaces.ByIndex[idx])
		}
	}
	for _, id := range lines(run("network", "ls", "-q", "--no-trunc", "--filter", label).Stdout()) {
		if len(id) < 12 {
			continue
		}
		tokens = append(tokens, id[:12])
		var n []struct {
			Options map[string]string
			IPAM    struct {
				Config []struct{ Gateway string }
			}
		}
		if json.Unmarshal([]byte(run("network", "inspect", id).Stdout()), &n) != nil || len(n) != 1 {
			continue
		}
		tokens = append(tokens, n[0].Options["com.docker.network.bridge.name"])
		for _, c := range n[0].IPAM.Config {
			tokens = append(tokens, hostIfaces.Bridge(c.Gateway, id))
		}
	}
	tokens = append(tokens, lines(run("volume", "ls", "-q", "--filter", label).Stdout())...)
	addTokens(tokens)
	return tokens
}

// hostDiff returns the differences between two host snapshots that are
// ours (tokens, mounts under root), and the others.
func hostDiff(before, after daemon.HostState, tokens []string, root string) (mine, others []string) {
	return before.DiffNaming(after, tokens, root)
}
