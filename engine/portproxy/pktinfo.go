package portproxy

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// enablePktinfo asks the kernel for the destination address of each
// datagram on a wildcard socket. A dual-stack AF_INET6 socket needs both
// options: IPv4 datagrams carry IP_PKTINFO, IPv6 ones IPV6_PKTINFO.
func enablePktinfo(conn *net.UDPConn) error {
	v4 := conn.LocalAddr().(*net.UDPAddr).IP.To4() != nil
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		if serr == nil && !v4 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// parsePktinfo returns the destination address carried by a datagram's
// control messages, or the zero Addr.
func parsePktinfo(oob []byte) netip.Addr {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO &&
			len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
			return netip.AddrFrom4([4]byte(m.Data[8:12]))
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO &&
			len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr addr; unsigned int ifindex; }
			a := netip.AddrFrom16([16]byte(m.Data[:16]))
			if a.IsLinkLocalUnicast() {
				// A link-local source needs its interface.
				ifindex := binary.NativeEndian.Uint32(m.Data[16:20])
				if ifi, err := net.InterfaceByIndex(int(ifindex)); err == nil {
					a = a.WithZone(ifi.Name)
				}
			}
			return a
		}
	}
	return netip.Addr{}
}

// pktinfoFrom builds the control message that makes a reply leave from
// local. Multicast and broadcast destinations cannot be reply sources: the
// kernel then picks the source.
func pktinfoFrom(local netip.Addr) []byte {
	if local.IsMulticast() || local == netip.IPv4Unspecified() || local == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return nil
	}
	if local.Is4() || local.Is4In6() {
		return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: local.Unmap().As4()})
	}
	info := unix.Inet6Pktinfo{Addr: local.As16()}
	if z := local.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			info.Ifindex = uint32(ifi.Index)
		}
	}
	return unix.PktInfo6(&info)
}
