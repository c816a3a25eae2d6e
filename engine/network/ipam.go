package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
)

// hostPrefixes lists the prefixes routed on the host, which a new network
// must not overlap (dockerd checks the same).
func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	return out
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones).Masked(), true
}

func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// nextSubnet returns the first /size subnet of the pools that overlaps no
// host route and no existing network.
func nextSubnet(pools []Pool, used []netip.Prefix) (netip.Prefix, error) {
	taken := append(hostPrefixes(), used...)
	for _, pool := range pools {
		base := pool.Base.Masked()
		size := pool.Size
		if size < base.Bits() {
			size = base.Bits()
		}
		step := uint32(1) << (32 - size)
		start := ipv4ToUint(base.Addr())
		count := uint32(1) << (size - base.Bits())
		for i := uint32(0); i < count; i++ {
			cand := netip.PrefixFrom(uintToIPv4(start+i*step), size)
			free := true
			for _, t := range taken {
				if overlaps(cand, t) {
					free = false
					break
				}
			}
			if free {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: %w", errdefs.ErrUnavailable)
}

func ipv4ToUint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToIPv4(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// allocateIP picks the lowest free address of the network (after the
// gateway), within IPRange when set.
func (n *Network) allocateIP(want netip.Addr) (netip.Addr, error) {
	used := map[netip.Addr]bool{n.Gateway: true}
	for _, ep := range n.Endpoints {
		used[ep.IP.Addr()] = true
	}
	if want.IsValid() {
		if !n.Subnet.Contains(want) {
			return netip.Addr{}, fmt.Errorf("no configured subnet or ip-range contain the IP address %s: %w", want, errdefs.ErrInvalidArgument)
		}
		if used[want] {
			return netip.Addr{}, fmt.Errorf("Address already in use: %w", errdefs.ErrConflict)
		}
		return want, nil
	}
	r := n.Subnet
	if n.IPRange.IsValid() {
		r = n.IPRange
	}
	first := ipv4ToUint(r.Masked().Addr())
	last := first + (uint32(1) << (32 - r.Bits())) - 1
	for u := first + 1; u < last; u++ {
		a := uintToIPv4(u)
		if !used[a] && n.Subnet.Contains(a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no available IPv4 addresses on this network's address pools: %s (%s): %w", n.Name, n.ID, errdefs.ErrUnavailable)
}

// macFor derives a stable MAC from the IP, as dockerd does (02:42:ip).
func macFor(ip netip.Addr) string {
	b := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}
