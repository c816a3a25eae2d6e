package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// Pool is an address pool networks get subnets of the given size from.
type Pool struct {
	Base netip.Prefix
	Size int
}

// DefaultPools are dockerd's default address pools.
var DefaultPools = []Pool{
	{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.18.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.19.0.0/16"), Size: 16},
	{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
	{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
}

// Options configure the manager.
type Options struct {
	// Root holds the persistent state.
	Root string
	// DefaultSubnet is the default bridge's subnet with the gateway as
	// address (daemon.json "bip"); zero = first free pool subnet.
	DefaultCIDR netip.Prefix
	// Pools override DefaultPools (daemon.json "default-address-pools").
	Pools []Pool
}

// Manager owns all networks.
type Manager struct {
	opts Options
	mu   sync.Mutex
	nets map[string]*Network
	// onRemove is told a network's ID before the network goes.
	onRemove func(id string)
}

// OnRemove sets fn to be called with a network's ID when it is being
// removed, before its bridge goes (the prewarm pool drops the namespaces
// it wired to it). fn must not call the manager.
func (m *Manager) OnRemove(fn func(id string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onRemove = fn
}

// CreateRequest describes a user-defined network.
type CreateRequest struct {
	Name       string
	Driver     string
	Internal   bool
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	Subnet     netip.Prefix
	Gateway    netip.Addr
	IPRange    netip.Prefix
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (m *Manager) statePath() string { return filepath.Join(m.opts.Root, "networks.json") }

// New loads the networks, creates the predefined ones (bridge, host,
// none) and sets up bridges and firewall rules.
func New(opts Options) (*Manager, error) {
	if len(opts.Pools) == 0 {
		opts.Pools = DefaultPools
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, nets: map[string]*Network{}}
	if data, err := os.ReadFile(m.statePath()); err == nil {
		var list []*Network
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("read %s: %w", m.statePath(), err)
		}
		for _, n := range list {
			if n.Endpoints == nil {
				n.Endpoints = map[string]*Endpoint{}
			}
			m.nets[n.ID] = n
		}
	}
	if err := setupFirewall(); err != nil {
		return nil, err
	}
	if err := m.ensurePredefined(); err != nil {
		return nil, err
	}
	for _, n := range m.nets {
		if n.Driver != DriverBridge {
			continue
		}
		if err := ensureBridge(n.Bridge, n.Gateway, n.Subnet); err != nil {
			return nil, err
		}
		if err := addNetworkRules(n); err != nil {
			return nil, err
		}
	}
	return m, m.saveLocked()
}

func (m *Manager) ensurePredefined() error {
	have := map[string]bool{}
	for _, n := range m.nets {
		have[n.Name] = true
	}
	for _, p := range []struct{ name, driver string }{{"host", DriverHost}, {"none", DriverNull}} {
		if !have[p.name] {
			id := newID()
			m.nets[id] = &Network{ID: id, Name: p.name, Driver: p.driver, Created: time.Now().UTC(),
				Labels: map[string]string{}, Options: map[string]string{}, Endpoints: map[string]*Endpoint{}}
		}
	}
	if have["bridge"] {
		return nil
	}
	cidr := m.opts.DefaultCIDR
	if !cidr.IsValid() {
		sub, err := nextSubnet(m.opts.Pools, m.usedSubnets())
		if err != nil {
			return err
		}
		cidr = netip.PrefixFrom(sub.Addr().Next(), sub.Bits())
	}
	name, err := m.freeBridgeName()
	if err != nil {
		return err
	}
	id := newID()
	m.nets[id] = &Network{ID: id, Name: "bridge", Driver: DriverBridge, Created: time.Now().UTC(), Default: true,
		Bridge: name, Subnet: cidr.Masked(), Gateway: cidr.Addr(), Labels: map[string]string{},
		Options: map[string]string{
			"com.docker.network.bridge.default_bridge":       "true",
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "true",
			"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
			"com.docker.network.bridge.name":                 name,
			"com.docker.network.driver.mtu":                  "1500",
		},
		Endpoints: map[string]*Endpoint{}}
	return nil
}

// freeBridgeName picks hb0, hb1, ... not used by an interface (another
// hyperboxd on the host may own hb0).
func (m *Manager) freeBridgeName() (string, error) {
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("%s%d", bridgePrefix, i)
		if _, err := os.Stat("/sys/class/net/" + name); err != nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free bridge name")
}

func (m *Manager) usedSubnets() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range m.nets {
		if n.Subnet.IsValid() {
			out = append(out, n.Subnet)
		}
	}
	return out
}

func (m *Manager) saveLocked() error {
	list := make([]*Network, 0, len(m.nets))
	for _, n := range m.nets {
		list = append(list, n)
	}
	data, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	tmp := m.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, m.statePath())
}

// lookupLocked finds a network by exact name, full ID or unique ID prefix
// (dockerd's order). Errors: NotFound, InvalidArgument (ambiguous).
func (m *Manager) lookupLocked(ref string) (*Network, error) {
	if n, ok := m.nets[ref]; ok {
		return n, nil
	}
	for _, n := range m.nets {
		if n.Name == ref {
			return n, nil
		}
	}
	var found *Network
	for id, n := range m.nets {
		if ref != "" && strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("network %s is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = n
		}
	}
	if found == nil {
		return nil, fmt.Errorf("network %s not found: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

func clone(n *Network) Network {
	c := *n
	c.Labels = maps.Clone(n.Labels)
	c.Options = maps.Clone(n.Options)
	c.Endpoints = map[string]*Endpoint{}
	for k, ep := range n.Endpoints {
		e := *ep
		e.Aliases = slices.Clone(ep.Aliases)
		e.DNSNames = slices.Clone(ep.DNSNames)
		c.Endpoints[k] = &e
	}
	return c
}

// Get returns a copy of a network. Errors: NotFound.
func (m *Manager) Get(ref string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return Network{}, err
	}
	return clone(n), nil
}

// List returns copies of all networks, by name.
func (m *Manager) List() []Network {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Network, 0, len(m.nets))
	for _, n := range m.nets {
		out = append(out, clone(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Create makes a user-defined bridge network. Errors: Conflict (name),
// InvalidArgument, NotImplemented (driver).
func (m *Manager) Create(req CreateRequest) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if n.Name == req.Name {
			return Network{}, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrConflict)
		}
	}
	if req.Driver == "" {
		req.Driver = DriverBridge
	}
	if req.Driver != DriverBridge {
		return Network{}, fmt.Errorf("plugin %q not found: %w", req.Driver, errdefs.ErrNotFound)
	}
	sub := req.Subnet
	if !sub.IsValid() {
		var err error
		if sub, err = nextSubnet(m.opts.Pools, m.usedSubnets()); err != nil {
			return Network{}, err
		}
	} else {
		sub = sub.Masked()
		for _, n := range m.nets {
			if n.Subnet.IsValid() && n.Subnet.Overlaps(sub) {
				return Network{}, fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space: %w", errdefs.ErrConflict)
			}
		}
	}
	gw := req.Gateway
	if !gw.IsValid() {
		gw = sub.Addr().Next()
	} else if !sub.Contains(gw) {
		return Network{}, fmt.Errorf("gateway %s is not in subnet %s: %w", gw, sub, errdefs.ErrInvalidArgument)
	}
	if req.IPRange.IsValid() && !sub.Contains(req.IPRange.Addr()) {
		return Network{}, fmt.Errorf("ip-range %s is not in subnet %s: %w", req.IPRange, sub, errdefs.ErrInvalidArgument)
	}
	id := newID()
	bridge := bridgePrefix + "-" + id[:12]
	if b := req.Options["com.docker.network.bridge.name"]; b != "" {
		if len(b) > 15 {
			return Network{}, fmt.Errorf("bridge name %q is longer than 15 characters: %w", b, errdefs.ErrInvalidArgument)
		}
		bridge = b
	}
	n := &Network{ID: id, Name: req.Name, Driver: req.Driver, Created: time.Now().UTC(), Internal: req.Internal,
		Attachable: req.Attachable, Labels: nonNilMap(req.Labels), Options: nonNilMap(req.Options), Bridge: bridge,
		Subnet: sub, Gateway: gw, IPRange: req.IPRange, Endpoints: map[string]*Endpoint{}}
	if err := ensureBridge(n.Bridge, n.Gateway, n.Subnet); err != nil {
		_ = DeleteLink(n.Bridge)
		return Network{}, err
	}
	if err := addNetworkRules(n); err != nil {
		removeNetworkRules(n)
		_ = DeleteLink(n.Bridge)
		return Network{}, err
	}
	m.nets[id] = n
	return clone(n), m.saveLocked()
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// Remove deletes a user-defined network. Errors: NotFound, PermissionDenied
// (predefined, or endpoints still attached, as dockerd's 403s).
func (m *Manager) Remove(ref string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return Network{}, err
	}
	if n.Default || n.Driver == DriverHost || n.Driver == DriverNull {
		return Network{}, fmt.Errorf("%s is a pre-defined network and cannot be removed: %w", n.Name, errdefs.ErrPermissionDenied)
	}
	if len(n.Endpoints) > 0 {
		return Network{}, fmt.Errorf("error while removing network: network %s id %s has active endpoints: %w", n.Name, n.ID, errdefs.ErrPermissionDenied)
	}
	if m.onRemove != nil {
		m.onRemove(n.ID)
	}
	removeNetworkRules(n)
	if err := DeleteLink(n.Bridge); err != nil {
		return Network{}, err
	}
	delete(m.nets, n.ID)
	return clone(n), m.saveLocked()
}

// Attach plugs a container's namespace into a network and returns the
// endpoint. Errors: NotFound, Conflict (address in use), Unavailable.
func (m *Manager) Attach(nsPath, ref string, req AttachRequest, defaultRoute bool) (Endpoint, error) {
	return m.attach(nsPath, ref, req, defaultRoute, "")
}

// AttachSpare makes the endpoint of a namespace PlugSpare already wired
// to the network (hostVeth its host end, req.IfName the interface inside):
// the address and MAC are chosen and set now.
func (m *Manager) AttachSpare(nsPath, ref string, req AttachRequest, defaultRoute bool, hostVeth string) (Endpoint, error) {
	return m.attach(nsPath, ref, req, defaultRoute, hostVeth)
}

func (m *Manager) attach(nsPath, ref string, req AttachRequest, defaultRoute bool, spare string) (Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return Endpoint{}, err
	}
	if n.Driver != DriverBridge {
		return Endpoint{}, fmt.Errorf("network %s cannot be attached to: %w", n.Name, errdefs.ErrInvalidArgument)
	}
	if _, ok := n.Endpoints[req.ContainerID]; ok {
		return Endpoint{}, fmt.Errorf("endpoint with name %s already exists in network %s: %w", req.Name, n.Name, errdefs.ErrConflict)
	}
	ip, err := n.allocateIP(req.IPv4)
	if err != nil {
		return Endpoint{}, err
	}
	ep := &Endpoint{ID: newID(), NetworkID: n.ID, ContainerID: req.ContainerID, Name: req.Name,
		Aliases: slices.Clone(req.Aliases), DNSNames: slices.Clone(req.DNSNames), IfName: req.IfName,
		IP: netip.PrefixFrom(ip, n.Subnet.Bits()), Gateway: n.Gateway, MAC: macFor(ip)}
	route := defaultRoute && !n.Internal
	if spare != "" {
		if err := configureSpare(nsPath, req.IfName, ep.IP, n.Gateway, ep.MAC, route); err != nil {
			return Endpoint{}, err
		}
		ep.HostVeth = spare
	} else if ep.HostVeth, err = plugVeth(nsPath, n.Bridge, req.IfName, ep.IP, n.Gateway, ep.MAC, route); err != nil {
		return Endpoint{}, err
	}
	n.Endpoints[req.ContainerID] = ep
	return *ep, m.saveLocked()
}

// Detach removes a container's endpoint from a network (its veth goes).
func (m *Manager) Detach(ref, containerID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupLocked(ref)
	if err != nil {
		return err
	}
	ep, ok := n.Endpoints[containerID]
	if !ok {
		return nil
	}
	_ = DeleteLink(ep.HostVeth)
	delete(n.Endpoints, containerID)
	return m.saveLocked()
}

// DetachAll removes every endpoint of a container.
func (m *Manager) DetachAll(containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			_ = DeleteLink(ep.HostVeth)
			delete(n.Endpoints, containerID)
		}
	}
	_ = m.saveLocked()
}

// Retain drops the endpoints of containers that are not running anymore
// (after a daemon restart).
func (m *Manager) Retain(running func(containerID string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		for cid, ep := range n.Endpoints {
			if !running(cid) {
				_ = DeleteLink(ep.HostVeth)
				delete(n.Endpoints, cid)
			}
		}
	}
	_ = m.saveLocked()
}

// Shutdown removes the bridges and firewall rules when no container uses
// them (so a stopped daemon leaves no trace); with live containers it
// leaves everything for them.
func (m *Manager) Shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if len(n.Endpoints) > 0 {
			return
		}
	}
	for _, n := range m.nets {
		if n.Driver == DriverBridge {
			removeNetworkRules(n)
			_ = DeleteLink(n.Bridge)
		}
	}
	teardownFirewall()
}

// Endpoints lists the endpoints of a container, keyed by network ID.
func (m *Manager) Endpoints(containerID string) map[string]Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Endpoint{}
	for id, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			out[id] = *ep
		}
	}
	return out
}

// Resolve answers the embedded DNS for a container: the addresses of
// name on the networks the container is attached to (by container name,
// alias or other DNS name, or name.<network>).
func (m *Manager) Resolve(containerID, name string) []netip.Addr {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netip.Addr
	for _, n := range m.nets {
		if _, on := n.Endpoints[containerID]; !on || n.Default {
			continue
		}
		q := name
		if suffix := "." + strings.ToLower(n.Name); strings.HasSuffix(q, suffix) {
			q = strings.TrimSuffix(q, suffix)
		}
		for _, ep := range n.Endpoints {
			for _, dn := range ep.DNSNames {
				if strings.ToLower(dn) == q {
					out = append(out, ep.IP.Addr())
					break
				}
			}
		}
	}
	return out
}

// ReverseName is the PTR answer for ip among the container's networks.
func (m *Manager) ReverseName(containerID string, ip netip.Addr) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if _, on := n.Endpoints[containerID]; !on {
			continue
		}
		for _, ep := range n.Endpoints {
			if ep.IP.Addr() == ip {
				return ep.Name + "." + n.Name
			}
		}
	}
	return ""
}
