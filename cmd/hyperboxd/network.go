package main

import (
	"io"
	"net/netip"
	"path/filepath"

	"github.com/hyperbox/hyperbox/engine/dnsserver"
	"github.com/hyperbox/hyperbox/engine/network"
)

// netOptions turns bip and default-address-pools into network options.
func netOptions(cfg *Config) network.Options {
	o := network.Options{Root: filepath.Join(cfg.DataRoot, "network")}
	if cfg.BIP != "" {
		if p, err := netip.ParsePrefix(cfg.BIP); err == nil {
			o.DefaultCIDR = p
		}
	}
	for _, p := range cfg.AddressPools {
		if base, err := netip.ParsePrefix(p.Base); err == nil {
			o.Pools = append(o.Pools, network.Pool{Base: base, Size: p.Size})
		}
	}
	return o
}

type resolverFuncs struct {
	lookup  func(string) []netip.Addr
	reverse func(netip.Addr) string
}

func (r resolverFuncs) Lookup(name string) []netip.Addr { return r.lookup(name) }
func (r resolverFuncs) Reverse(ip netip.Addr) string    { return r.reverse(ip) }

type closer func()

func (c closer) Close() error { c(); return nil }

// dnsStarter runs dockerd's embedded DNS (127.0.0.11) in a container's
// network namespace, forwarding unknown names to --dns or the host's
// resolvers.
func dnsStarter(nsPath string, upstreams []string, lookup func(string) []netip.Addr, reverse func(netip.Addr) string) (io.Closer, error) {
	if len(upstreams) == 0 {
		upstreams = dnsserver.Upstreams("/etc/resolv.conf")
	}
	s, err := dnsserver.Start(nsPath, resolverFuncs{lookup: lookup, reverse: reverse}, upstreams)
	if err != nil {
		return nil, err
	}
	return closer(s.Close), nil
}
