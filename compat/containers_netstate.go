package compat

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/engine"
)

// endpointSettings is NetworkSettings.Networks: one entry per network the
// container is configured for, with addresses while it runs. Never nil
// (docker-java NPEs on null), and present for host/none.
func endpointSettings(c *engine.Container, hc *container.HostConfig) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	switch {
	case c.Spec.NetworkMode == "host" || c.Spec.NetworkMode == "none":
		out[c.Spec.NetworkMode] = &network.EndpointSettings{}
		return out
	case strings.HasPrefix(c.Spec.NetworkMode, "container:"):
		return out
	}
	atts := c.Spec.Networks
	if len(atts) == 0 {
		atts = []engine.NetworkAttachment{{Network: networkName(hc)}}
	}
	for _, a := range atts {
		es := &network.EndpointSettings{Aliases: slices.Clone(a.Aliases)}
		if a.IPv4 != "" {
			if ip, err := netip.ParseAddr(a.IPv4); err == nil {
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
			}
		}
		if ep, ok := c.Endpoints[a.Network]; ok {
			es.NetworkID, es.EndpointID = ep.NetworkID, ep.EndpointID
			es.Gateway, es.IPAddress, es.IPPrefixLen = ep.Gateway, ep.IP.Addr(), ep.IP.Bits()
			if mac, err := net.ParseMAC(ep.MAC); err == nil {
				es.MacAddress = network.HardwareAddr(mac)
			}
			es.DNSNames = slices.Clone(ep.DNSNames)
		}
		out[a.Network] = es
	}
	return out
}

// portMap is NetworkSettings.Ports: exposed ports map to null, published
// ones to their real host bindings (the same port on IPv4 and IPv6).
func portMap(c *engine.Container, cfg *container.Config) network.PortMap {
	pm := network.PortMap{}
	for p := range cfg.ExposedPorts {
		pm[p] = nil
	}
	for _, b := range c.Ports {
		p, err := network.ParsePort(strconv.Itoa(int(b.ContainerPort)) + "/" + b.Proto)
		if err != nil {
			continue
		}
		port := strconv.Itoa(int(b.HostPort))
		if b.HostIP == "" {
			pm[p] = append(pm[p],
				network.PortBinding{HostIP: netip.IPv4Unspecified(), HostPort: port},
				network.PortBinding{HostIP: netip.IPv6Unspecified(), HostPort: port})
			continue
		}
		ip, _ := netip.ParseAddr(b.HostIP)
		pm[p] = append(pm[p], network.PortBinding{HostIP: ip, HostPort: port})
	}
	return pm
}

// networkSettings is inspect's NetworkSettings.
func networkSettings(c *engine.Container, cfg *container.Config, hc *container.HostConfig) *container.NetworkSettings {
	return &container.NetworkSettings{
		SandboxID:  c.ID,
		SandboxKey: c.NetNS,
		Ports:      portMap(c, cfg),
		Networks:   endpointSettings(c, hc),
	}
}

// portSummaries is the list view's Ports.
func portSummaries(c *engine.Container, cfg *container.Config) []container.PortSummary {
	out := []container.PortSummary{}
	for p, bindings := range portMap(c, cfg) {
		if len(bindings) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bindings {
			n, _ := strconv.Atoi(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(n), Type: string(p.Proto())})
		}
	}
	slices.SortFunc(out, func(a, b container.PortSummary) int {
		if a.PrivatePort != b.PrivatePort {
			return int(a.PrivatePort) - int(b.PrivatePort)
		}
		return strings.Compare(a.IP.String(), b.IP.String())
	})
	return out
}
