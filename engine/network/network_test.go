package network

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func ping(t *testing.T, nsPath string, ip netip.Addr) error {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+nsPath, "/bin/busybox", "ping", "-c", "1", "-W", "2", ip.String()).CombinedOutput()
	if err != nil {
		return &pingError{string(out)}
	}
	return nil
}

type pingError struct{ out string }

// newTestManager makes a manager with its state in a test directory (also
// returned), whose default bridge has address defaultCIDR and whose new
// networks get /24s of pool; the test is skipped without root.
func newTestManager(t *testing.T, defaultCIDR, pool string) (*Manager, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	m, err := New(Options{Root: filepath.Join(dir, "state"), DefaultCIDR: netip.MustParsePrefix(defaultCIDR),
		Pools: []Pool{{Base: netip.MustParsePrefix(pool), Size: 24}}})
	assert.NilError(t, err)
	t.Cleanup(m.Shutdown)
	return m, dir
}

func (p *pingError) Error() string { return p.out }

// Two namespaces on one network reach each other; a namespace on another
// network does not; removing the network needs its endpoints gone.
func TestBridgeNetworks(t *testing.T) {
	m, dir := newTestManager(t, "10.251.0.1/24", "10.252.0.0/16")

	def, err := m.Get("bridge")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(def.Subnet.String(), "10.251.0.0/24"))
	_, err = m.Get("host")
	assert.NilError(t, err)

	a, err := m.Create(CreateRequest{Name: "t-a", Labels: map[string]string{"k": "v"}})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = m.Remove(a.ID) })
	b, err := m.Create(CreateRequest{Name: "t-b", Subnet: netip.MustParsePrefix("10.253.7.0/24")})
	assert.NilError(t, err)
	t.Cleanup(func() { _, _ = m.Remove(b.ID) })
	assert.Check(t, is.Equal(a.Subnet.String(), "10.252.0.0/24"))
	assert.Check(t, is.Equal(b.Gateway.String(), "10.253.7.1"))
	_, err = m.Create(CreateRequest{Name: "t-a"})
	assert.Check(t, errdefs.IsConflict(err))

	ns := func(name string) string {
		p := filepath.Join(dir, "ns", name)
		assert.NilError(t, NewNamespace(p))
		t.Cleanup(func() { _ = DeleteNamespace(p) })
		return p
	}
	n1, n2, n3 := ns("c1"), ns("c2"), ns("c3")
	e1, err := m.Attach(n1, "t-a", AttachRequest{ContainerID: "c1", Name: "one", DNSNames: []string{"one", "web"}, IfName: "eth0"}, true)
	assert.NilError(t, err)
	e2, err := m.Attach(n2, "t-a", AttachRequest{ContainerID: "c2", Name: "two", DNSNames: []string{"two", "web"}, IfName: "eth0"}, true)
	assert.NilError(t, err)
	e3, err := m.Attach(n3, "t-b", AttachRequest{ContainerID: "c3", Name: "three", DNSNames: []string{"three"}, IfName: "eth0"}, true)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(e1.IP.String(), "10.252.0.2/24"))

	assert.Check(t, ping(t, n1, e2.IP.Addr()))
	assert.Check(t, ping(t, n1, a.Gateway))
	assert.Check(t, ping(t, n1, e3.IP.Addr()) != nil, "networks must be isolated")

	assert.Check(t, is.Len(m.Resolve("c1", "web"), 2))
	got2 := m.Resolve("c1", "TWO.t-a.")
	assert.Check(t, len(got2) == 1 && got2[0] == e2.IP.Addr(), "got %v", got2)
	assert.Check(t, is.Len(m.Resolve("c1", "three"), 0))

	_, err = m.Remove("t-a")
	assert.Check(t, errdefs.IsPermissionDenied(err))
	_, err = m.Remove("bridge")
	assert.Check(t, errdefs.IsPermissionDenied(err))
	m.DetachAll("c1")
	m.DetachAll("c2")
	m.DetachAll("c3")
	_, err = m.Remove("t-a")
	assert.NilError(t, err)

	// State survives a restart of the manager.
	m2, err := New(Options{Root: filepath.Join(dir, "state"), Pools: []Pool{{Base: netip.MustParsePrefix("10.252.0.0/16"), Size: 24}}})
	assert.NilError(t, err)
	got, err := m2.Get("t-b")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(got.ID, b.ID))
}
