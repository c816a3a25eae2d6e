package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hyperbox/hyperbox/tests/testutil/daemon"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/icmd"
	"gotest.tools/v3/poll"
	"gotest.tools/v3/skip"
)

// TestPrewarmNetnsPool: with prewarming on, a container started on a
// network it was started on before takes a network namespace already
// wired to that network's bridge (a hit), and its network works as any
// other: its own address, the gateway and other containers reachable.
// The pool's namespaces and host interfaces are gone after a clean stop,
// after a SIGKILL and the restart that follows, and, for one network,
// when that network is removed.
func TestPrewarmNetnsPool(t *testing.T) {
	skip.If(t, shared == nil, "no daemon in -short mode")
	skip.If(t, daemon.IsOracle(), "prewarming and --metrics-addr's hyperbox_* metrics are HyperBox's")
	addr := freeAddr(t)
	d := daemon.Start(t, daemon.WithArgs("--metrics-addr", addr, "--prewarm", "--prewarm-ignore-pressure"))
	d.LogOnFailure(t)
	assert.NilError(t, loadBusybox(d))
	netnsDir := filepath.Join(d.ExecRoot(), "containers", "netns")

	waitEntries := func(min float64) {
		t.Helper()
		poll.WaitOn(t, func(poll.LogT) poll.Result {
			if n := metric(t, addr, "hyperbox_prewarm_netns_pool_entries"); n < min {
				return poll.Continue("%v wired namespaces ready, want %v", n, min)
			}
			return poll.Success()
		}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))
	}

	// A first start records demand; the pool then wires one namespace.
	d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	waitEntries(1)
	ids := spareIDs(t, netnsDir)
	assert.Assert(t, len(ids) >= 1)
	for _, id := range ids {
		assert.Check(t, linkExists("vethp"+id), "host end of pool namespace %s", id)
	}

	// A hit: the container gets the pool's namespace and a working network.
	d.Cmd(t, "run", "-d", "--name", "netns-peer", "busybox", "sleep", "300").Assert(t, icmd.Success)
	peerIP := strings.TrimSpace(d.Cmd(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "netns-peer").Assert(t, icmd.Success).Stdout())
	waitEntries(1)
	hits := metric(t, addr, "hyperbox_prewarm_netns_hits_total")
	res := d.Cmd(t, "run", "--name", "netns-hit", "busybox", "sh", "-c",
		`ip -o -4 addr show eth0 && ip link show eth0 && ip route && ping -c1 -W2 `+peerIP+` && ping -c1 -W2 $(ip route | awk '/default/ {print $3}')`)
	res.Assert(t, icmd.Success)
	assert.Check(t, metric(t, addr, "hyperbox_prewarm_netns_hits_total") > hits, "the start did not take a pool namespace")
	// Its own address next to the peer's, and the MAC dockerd derives
	// from it (02:42 and the address's four bytes).
	m := regexp.MustCompile(`inet (\d+\.\d+\.\d+\.\d+)/`).FindStringSubmatch(res.Stdout())
	assert.Assert(t, m != nil, res.Stdout())
	ip := netip.MustParseAddr(m[1])
	assert.Check(t, ip.String() != peerIP && netip.MustParsePrefix(peerIP+"/16").Contains(ip), "address %s, peer %s", ip, peerIP)
	b := ip.As4()
	assert.Check(t, is.Contains(res.Stdout(), fmt.Sprintf("link/ether 02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])))
	assert.Check(t, is.Contains(res.Stdout(), "default via "))
	assert.Check(t, is.Equal(strings.Count(res.Stdout(), "1 packets received"), 2), res.Stdout())
	d.Cmd(t, "rm", "-f", "netns-hit", "netns-peer").Assert(t, icmd.Success)
	out := d.Cmd(t, "info").Assert(t, icmd.Success).Stdout()
	assert.Check(t, is.Regexp(`Prewarm Network Pool: \d+ namespaces for \d+ networks; [1-9]\d* hits`, out))

	// Removing a network discards the namespaces wired to it.
	d.Cmd(t, "network", "create", "netns-pool-net").Assert(t, icmd.Success)
	before := map[string]bool{}
	for _, id := range spareIDs(t, netnsDir) {
		before[id] = true
	}
	d.Cmd(t, "run", "--rm", "--network", "netns-pool-net", "busybox", "true").Assert(t, icmd.Success)
	var onNet []string
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		onNet = nil
		for _, id := range spareIDs(t, netnsDir) {
			if !before[id] {
				onNet = append(onNet, id)
			}
		}
		if len(onNet) == 0 {
			return poll.Continue("no namespace wired to the new network yet")
		}
		return poll.Success()
	}, poll.WithTimeout(20*time.Second), poll.WithDelay(100*time.Millisecond))
	d.Cmd(t, "network", "rm", "netns-pool-net").Assert(t, icmd.Success)
	for _, id := range onNet {
		assert.Check(t, !fileExists(filepath.Join(netnsDir, "pool-"+id)), "namespace %s left after its network went", id)
		assert.Check(t, !linkExists("vethp"+id), "interface vethp%s left after its network went", id)
	}

	// A clean stop discards the pool.
	ids = spareIDs(t, netnsDir)
	assert.Assert(t, len(ids) >= 1)
	d.Stop(t)
	assert.Check(t, is.Len(spareIDs(t, netnsDir), 0))
	for _, id := range ids {
		assert.Check(t, !linkExists("vethp"+id), "interface vethp%s left after a clean stop", id)
	}

	// A killed daemon leaves its pool; the next start removes it.
	d.Restart(t)
	d.Cmd(t, "run", "--rm", "busybox", "true").Assert(t, icmd.Success)
	waitEntries(1)
	ids = spareIDs(t, netnsDir)
	assert.Assert(t, len(ids) >= 1)
	killDaemon(t, d)
	for _, id := range ids {
		assert.Check(t, linkExists("vethp"+id), "SIGKILL cannot have removed vethp%s", id)
	}
	d.Restart(t)
	for _, id := range ids {
		assert.Check(t, !fileExists(filepath.Join(netnsDir, "pool-"+id)), "namespace %s left after a restart", id)
		assert.Check(t, !linkExists("vethp"+id), "interface vethp%s left after a restart", id)
	}
	assert.Check(t, is.Equal(metric(t, addr, "hyperbox_prewarm_netns_pool_entries"), 0.0))
	d.Stop(t)
}

// spareIDs lists the pool namespaces pinned in a daemon's netns directory.
func spareIDs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	assert.NilError(t, err)
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), "pool-"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func linkExists(name string) bool { return fileExists("/sys/class/net/" + name) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
