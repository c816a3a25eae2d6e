// Package network gives containers their networks: Linux bridges with an
// address pool, a veth pair per endpoint into the container's network
// namespace, NAT to the outside and isolation between networks (iptables).
// It knows nothing of Docker's API; compat words its results.
package network

import (
	"net/netip"
	"time"
)

// Drivers.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Network is one network and its persistent state.
type Network struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	Internal   bool
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	// Bridge is the Linux bridge (bridge driver only).
	Bridge  string
	Subnet  netip.Prefix
	Gateway netip.Addr
	IPRange netip.Prefix
	// Default marks the daemon's default "bridge" network (no embedded
	// DNS, as dockerd).
	Default bool
	// Endpoints by container ID.
	Endpoints map[string]*Endpoint
}

// Endpoint is a container's attachment to a network.
type Endpoint struct {
	ID          string
	NetworkID   string
	ContainerID string
	// Name is the container name (without '/'), for DNS and inspect.
	Name     string
	Aliases  []string
	DNSNames []string
	IfName   string
	HostVeth string
	IP       netip.Prefix
	Gateway  netip.Addr
	MAC      string
}

// AttachRequest asks for an endpoint.
type AttachRequest struct {
	ContainerID string
	Name        string
	Aliases     []string
	// DNSNames are all names the endpoint answers to (name, aliases,
	// short ID, hostname).
	DNSNames []string
	// IPv4 is a static address (zero = allocate).
	IPv4 netip.Addr
	// IfName is the interface name inside the container (eth0, eth1...).
	IfName string
}
