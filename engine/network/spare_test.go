package network

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

// A spare namespace is wired to the bridge ahead of time with its
// interface down and unaddressed; AttachSpare gives it the endpoint's
// address, MAC and route, and it then reaches the gateway and a
// namespace attached the usual way. A network being removed tells
// OnRemove first.
func TestSpareNamespace(t *testing.T) {
	m, dir := newTestManager(t, "10.249.0.1/24", "10.248.0.0/16")
	n, err := m.Create(CreateRequest{Name: "t-spare"})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = m.Remove(n.ID) })
	ns := func(name string) string {
		p := filepath.Join(dir, "ns", name)
		assert.NilError(t, NewNamespace(p))
		t.Cleanup(func() { _ = DeleteNamespace(p) })
		return p
	}
	spareNS, plainNS := ns("spare"), ns("plain")
	host := "vethptest" + randHex(6)
	t.Cleanup(func() { _ = DeleteLink(host) })

	assert.Check(t, errdefs.IsNotFound(m.PlugSpare(spareNS, "no-such-network", host, "eth0")))
	assert.Check(t, errdefs.IsInvalidArgument(m.PlugSpare(spareNS, "host", host, "eth0")))
	assert.NilError(t, m.PlugSpare(spareNS, n.ID, host, "eth0"))
	link, err := netlink.LinkByName(host)
	assert.NilError(t, err)
	br, err := netlink.LinkByName(n.Bridge)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(link.Attrs().MasterIndex, br.Attrs().Index), "host end on the bridge")
	inside := func(args ...string) string {
		out, err := exec.Command("nsenter", append([]string{"--net=" + spareNS, "/bin/busybox", "ip"}, args...)...).CombinedOutput()
		assert.NilError(t, err, string(out))
		return string(out)
	}
	out := inside("-o", "addr", "show", "eth0")
	assert.Check(t, !strings.Contains(out, "inet "), "no address before the claim: %s", out)
	assert.Check(t, !strings.Contains(out, ",UP"), "down before the claim: %s", out)

	ep, err := m.AttachSpare(spareNS, n.ID, AttachRequest{ContainerID: "c-spare", Name: "spare", IfName: "eth0"}, true, host)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(ep.HostVeth, host))
	assert.Check(t, is.Equal(ep.IP.String(), "10.248.0.2/24"))
	out = inside("-o", "addr", "show", "eth0")
	assert.Check(t, is.Contains(out, "inet 10.248.0.2/24"))
	assert.Check(t, is.Contains(inside("link", "show", "eth0"), ep.MAC))
	assert.Check(t, is.Contains(inside("route"), "default via 10.248.0.1 dev eth0"))
	plain, err := m.Attach(plainNS, n.ID, AttachRequest{ContainerID: "c-plain", Name: "plain", IfName: "eth0"}, true)
	assert.NilError(t, err)
	assert.Check(t, ping(t, spareNS, n.Gateway))
	assert.Check(t, ping(t, spareNS, plain.IP.Addr()))

	// The endpoint owns the spare's host end now.
	m.DetachAll("c-spare")
	_, err = netlink.LinkByName(host)
	assert.Check(t, err != nil, "host end left after detach")
	m.DetachAll("c-plain")

	var removed []string
	m.OnRemove(func(id string) { removed = append(removed, id) })
	_, err = m.Remove(n.ID)
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(removed, []string{n.ID}))
}
