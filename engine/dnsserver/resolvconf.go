package dnsserver

import (
	"bufio"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// systemdResolvConf lists the servers systemd-resolved itself uses; a
// variable for tests.
var systemdResolvConf = "/run/systemd/resolve/resolv.conf"

// systemdStub is systemd-resolved's stub listener.
var systemdStub = netip.MustParseAddr("127.0.0.53")

// maxUpstreams is resolv.conf's MAXNS: the C library ignores further
// nameserver lines, and dockerd forwards to at most three servers.
const maxUpstreams = 3

// Upstreams returns the nameservers of the resolv.conf at resolvConfPath
// as "ip:port" (port 53), in order, at most three. When the only server is
// systemd-resolved's stub 127.0.0.53, the servers of
// /run/systemd/resolve/resolv.conf are returned instead if that file lists
// any, as dockerd does. A missing or unreadable file, or one without
// nameservers, gives nil; the caller chooses the fallback (dockerd falls
// back to 8.8.8.8 and 8.8.4.4 for containers).
func Upstreams(resolvConfPath string) []string {
	servers := nameservers(resolvConfPath)
	if len(servers) > 0 && !slices.ContainsFunc(servers, func(a netip.Addr) bool { return a != systemdStub }) {
		if alt := nameservers(systemdResolvConf); len(alt) > 0 {
			servers = alt
		}
	}
	if len(servers) > maxUpstreams {
		servers = servers[:maxUpstreams]
	}
	var out []string
	for _, a := range servers {
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	return out
}

// nameservers returns the addresses of the "nameserver" lines of a
// resolv.conf; lines that do not parse are skipped, as the C library does.
func nameservers(path string) []netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(fields[1]); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}
