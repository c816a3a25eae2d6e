package compat

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/engine"
)

// networkSpec converts NetworkMode, NetworkingConfig (several endpoints
// from API 1.44), PortBindings, PublishAllPorts and legacy links.
func (d *Daemon) networkSpec(s *engine.ContainerSpec, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	mode := string(hc.NetworkMode)
	eps := map[string]*network.EndpointSettings{}
	if nc != nil {
		for k, v := range nc.EndpointsConfig {
			// The CLI names the default network "default" (= bridge).
			if k == "default" {
				k = "bridge"
			}
			eps[k] = v
		}
	}
	switch {
	case mode == "host" || mode == "none":
		s.NetworkMode = mode
		if hasPorts(hc) && mode == "host" {
			// dockerd ignores published ports on the host network.
			hc.PortBindings, hc.PublishAllPorts = nil, false
		}
		return nil
	case strings.HasPrefix(mode, "container:"):
		ref := strings.TrimPrefix(mode, "container:")
		if _, err := d.engine.Get(context.Background(), ref); err != nil {
			return containerError(ref, err)
		}
		if hasPorts(hc) {
			return invalid("conflicting options: port publishing and the container type network mode")
		}
		s.NetworkMode = mode
		return nil
	}
	primary := mode
	if primary == "" || primary == "default" {
		primary = "bridge"
	}
	names := []string{primary}
	for n := range eps {
		if n != primary && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names[1:])
	s.NetworkMode = ""
	s.Networks = nil
	for _, l := range hc.Links {
		name, _, _ := strings.Cut(l, ":")
		if _, err := d.engine.Get(context.Background(), strings.TrimPrefix(name, "/")); err != nil {
			return invalid("could not get container for %s", strings.TrimPrefix(name, "/"))
		}
	}
	if primary == "bridge" {
		s.Links = hc.Links
	}
	for _, n := range names {
		if m := d.engine.Networks(); m != nil {
			net, err := m.Get(n)
			if err != nil {
				return networkError(n, err)
			}
			if ep := eps[n]; net.Default && ep != nil && len(ep.Aliases) > 0 {
				return invalid("network-scoped alias is supported only for containers in user defined networks")
			}
		}
		att := engine.NetworkAttachment{Network: n}
		if ep := eps[n]; ep != nil {
			att.Aliases = slices.Clone(ep.Aliases)
			if ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address.IsValid() {
				att.IPv4 = ep.IPAMConfig.IPv4Address.String()
			}
		}
		// Legacy links: on user-defined networks the alias is a DNS name.
		for _, l := range hc.Links {
			if _, alias, ok := strings.Cut(l, ":"); ok && primary != "bridge" {
				att.Aliases = append(att.Aliases, alias)
			}
		}
		s.Networks = append(s.Networks, att)
	}
	return portSpecs(s, cfg, hc)
}

func hasPorts(hc *container.HostConfig) bool {
	for _, b := range hc.PortBindings {
		if len(b) > 0 {
			return true
		}
	}
	return hc.PublishAllPorts
}

// portSpecs turns PortBindings (and, with PublishAllPorts, every exposed
// port) into the engine's port specs.
func portSpecs(s *engine.ContainerSpec, cfg *container.Config, hc *container.HostConfig) error {
	ports := slices.Collect(maps.Keys(hc.PortBindings))
	if hc.PublishAllPorts {
		for p := range cfg.ExposedPorts {
			if _, ok := hc.PortBindings[p]; !ok {
				ports = append(ports, p)
			}
		}
	}
	slices.SortFunc(ports, func(a, b network.Port) int { return strings.Compare(a.String(), b.String()) })
	for _, p := range ports {
		bindings := hc.PortBindings[p]
		if len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			hostIP := ""
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				hostIP = b.HostIP.String()
			}
			if b.HostIP.IsValid() && b.HostIP.IsUnspecified() && b.HostIP.Is6() {
				hostIP = "::"
			}
			s.PortBindings = append(s.PortBindings, engine.PortSpec{
				Proto: string(p.Proto()), HostIP: hostIP, HostPort: b.HostPort, ContainerPort: p.Num(),
			})
		}
	}
	return nil
}
