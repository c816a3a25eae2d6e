package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ensureBridge creates (or finds) the bridge with the gateway address, up.
func ensureBridge(name string, gw netip.Addr, subnet netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: -1}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		link = br
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
	have := false
	for _, a := range addrs {
		if a.IP.Equal(addr.IP) {
			have = true
		}
	}
	if !have {
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("address bridge %s: %w", name, err)
		}
	}
	return netlink.LinkSetUp(link)
}

// deleteLink removes an interface if it exists.
func DeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}

// plugVeth creates a veth pair: the host end on the bridge, the other end
// created inside the namespace as ifName with the endpoint's address; the
// first interface also gets the default route (unless internal). Creating
// the peer in its namespace, rather than moving it there, spares the RCU
// grace period a move between namespaces waits for.
func plugVeth(nsPath, bridge, ifName string, ip netip.Prefix, gw netip.Addr, mac string, defaultRoute bool) (string, error) {
	hostName := "veth" + randHex(7)
	err := addVeth(nsPath, bridge, hostName, ifName, mac, func(h *netlink.Handle) error {
		return configureInside(h, ifName, ip, gw, defaultRoute)
	})
	if err != nil {
		return "", err
	}
	return hostName, nil
}

// PlugSpare wires a namespace to a network's bridge ahead of a container
// (the prewarm pool): the host end hostName on the bridge and up, the
// peer ifName inside the namespace, down and without an address until
// AttachSpare gives it the container's. Errors: NotFound, InvalidArgument.
func (m *Manager) PlugSpare(nsPath, ref, hostName, ifName string) error {
	m.mu.Lock()
	n, err := m.lookupLocked(ref)
	var bridge string
	if err == nil {
		bridge = n.Bridge
		if n.Driver != DriverBridge {
			err = fmt.Errorf("network %s cannot be attached to: %w", n.Name, errdefs.ErrInvalidArgument)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return addVeth(nsPath, bridge, hostName, ifName, "", nil)
}

// addVeth creates the pair hostName (on bridge, then up) and ifName
// (inside the namespace at nsPath, with mac unless empty); inside, if not
// nil, runs in the namespace after the pair exists. On error nothing is
// left on the host.
func addVeth(nsPath, bridge, hostName, ifName, mac string, inside func(h *netlink.Handle) error) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	err = inNamespace(nsPath, func(ns netns.NsHandle) error {
		veth := &netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: hostName, MasterIndex: br.Attrs().Index, TxQLen: -1},
			PeerName:  ifName, PeerNamespace: netlink.NsFd(int(ns)),
		}
		if hw, err := net.ParseMAC(mac); err == nil {
			veth.PeerHardwareAddr = hw
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth: %w", err)
		}
		if inside == nil {
			return nil
		}
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		return inside(h)
	})
	if err == nil {
		var host netlink.Link
		if host, err = netlink.LinkByName(hostName); err == nil {
			err = netlink.LinkSetUp(host)
		}
	}
	if err != nil {
		_ = DeleteLink(hostName)
		return err
	}
	return nil
}

// configureSpare gives a spare's interface (see PlugSpare) the endpoint's
// MAC and address, brings it up and adds the default route if asked.
func configureSpare(nsPath, ifName string, ip netip.Prefix, gw netip.Addr, mac string, defaultRoute bool) error {
	return inNamespace(nsPath, func(ns netns.NsHandle) error {
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		link, err := h.LinkByName(ifName)
		if err != nil {
			return err
		}
		if hw, err := net.ParseMAC(mac); err == nil {
			if err := h.LinkSetHardwareAddr(link, hw); err != nil {
				return fmt.Errorf("set MAC address of %s: %w", ifName, err)
			}
		}
		return configureInside(h, ifName, ip, gw, defaultRoute)
	})
}

func configureInside(h *netlink.Handle, ifName string, ip netip.Prefix, gw netip.Addr, defaultRoute bool) error {
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	link, err := h.LinkByName(ifName)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.Addr().AsSlice(), Mask: net.CIDRMask(ip.Bits(), 32)}}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s: %w", ifName, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return err
	}
	if defaultRoute {
		if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
	}
	return nil
}

// LoopbackOnly brings lo up in a namespace (containers without a network).
func LoopbackOnly(nsPath string) error {
	return inNamespace(nsPath, func(ns netns.NsHandle) error {
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
}
