package compat

import (
	"context"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/hyperbox/hyperbox/engine"
	enet "github.com/hyperbox/hyperbox/engine/network"
)

var networkFilterKeys = map[string]bool{"name": true, "id": true, "label": true, "driver": true, "type": true, "scope": true, "dangling": true}

func (d *Daemon) networks() (*enet.Manager, error) {
	m := d.engine.Networks()
	if m == nil {
		return nil, errdefs.ErrNotImplemented.WithMessage("networking is disabled in this daemon")
	}
	return m, nil
}

// networkError words network lookups as dockerd does.
func networkError(ref string, err error) error {
	if errdefs.IsNotFound(err) {
		return errdefs.ErrNotFound.WithMessage("network " + ref + " not found")
	}
	return err
}

func driverName(n *enet.Network) string { return n.Driver }

func toSummary(n *enet.Network) network.Network {
	ipam := network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}}
	if n.Subnet.IsValid() {
		ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange})
	}
	return network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: driverName(n),
		EnableIPv4: n.Driver == enet.DriverBridge, IPAM: ipam, Internal: n.Internal, Attachable: n.Attachable,
		Options: nonNilMap(n.Options), Labels: nonNilMap(n.Labels),
	}
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func isPredefined(n *enet.Network) bool {
	return n.Default || n.Driver == enet.DriverHost || n.Driver == enet.DriverNull
}

func matchNetwork(f map[string]map[string]bool, n *enet.Network) bool {
	if len(f["name"]) > 0 && !anyKey(f["name"], func(p string) bool { ok, _ := regexp.MatchString(p, n.Name); return ok }) {
		return false
	}
	if len(f["id"]) > 0 && !anyKey(f["id"], func(p string) bool { return strings.HasPrefix(n.ID, p) }) {
		return false
	}
	if !matchLabels(f["label"], n.Labels) {
		return false
	}
	if len(f["driver"]) > 0 && !f["driver"][n.Driver] {
		return false
	}
	if len(f["scope"]) > 0 && !f["scope"]["local"] {
		return false
	}
	if len(f["type"]) > 0 {
		t := "custom"
		if isPredefined(n) {
			t = "builtin"
		}
		if !f["type"][t] {
			return false
		}
	}
	if len(f["dangling"]) > 0 {
		dangling := len(n.Endpoints) == 0 && !isPredefined(n)
		if f["dangling"]["true"] != dangling && f["dangling"]["1"] != dangling {
			return false
		}
	}
	return true
}

// NetworkList answers GET /networks.
func (d *Daemon) NetworkList(ctx context.Context, f map[string]map[string]bool) ([]network.Summary, error) {
	m, err := d.networks()
	if err != nil {
		return nil, err
	}
	for k := range f {
		if !networkFilterKeys[k] {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	for v := range f["type"] {
		if v != "custom" && v != "builtin" {
			return nil, invalid("invalid filter: 'type'='%s'", v)
		}
	}
	out := []network.Summary{}
	for _, n := range m.List() {
		if matchNetwork(f, &n) {
			out = append(out, network.Summary{Network: toSummary(&n)})
		}
	}
	return out, nil
}

// NetworkInspect answers GET /networks/{id}.
func (d *Daemon) NetworkInspect(ctx context.Context, ref string) (*network.Inspect, error) {
	m, err := d.networks()
	if err != nil {
		return nil, err
	}
	n, err := m.Get(ref)
	if err != nil {
		return nil, networkError(ref, err)
	}
	resp := &network.Inspect{Network: toSummary(&n), Containers: map[string]network.EndpointResource{}}
	for cid, ep := range n.Endpoints {
		mac, _ := net.ParseMAC(ep.MAC)
		resp.Containers[cid] = network.EndpointResource{Name: ep.Name, EndpointID: ep.ID,
			MacAddress: network.HardwareAddr(mac), IPv4Address: ep.IP}
	}
	return resp, nil
}

// NetworkCreate answers POST /networks/create.
func (d *Daemon) NetworkCreate(ctx context.Context, req *network.CreateRequest) (network.CreateResponse, error) {
	m, err := d.networks()
	if err != nil {
		return network.CreateResponse{}, err
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return network.CreateResponse{}, notImplemented("EnableIPv6 (IPv6 networks)")
	}
	if req.ConfigOnly || req.ConfigFrom != nil || req.Ingress || req.Scope == "swarm" {
		return network.CreateResponse{}, notImplemented("swarm and config-only networks")
	}
	cr := enet.CreateRequest{Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable,
		Labels: req.Labels, Options: req.Options}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return network.CreateResponse{}, notImplemented("IPAM driver " + req.IPAM.Driver)
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			c := req.IPAM.Config[0]
			if c.Subnet.IsValid() && !c.Subnet.Addr().Is4() {
				return network.CreateResponse{}, notImplemented("IPv6 subnets")
			}
			cr.Subnet, cr.Gateway, cr.IPRange = c.Subnet, c.Gateway, c.IPRange
		default:
			return network.CreateResponse{}, notImplemented("several IPAM configs on one network")
		}
	}
	n, err := m.Create(cr)
	if err != nil {
		return network.CreateResponse{}, err
	}
	d.engine.NetworkEvent("create", n, "")
	return network.CreateResponse{ID: n.ID, Warning: ""}, nil
}

// NetworkRemove answers DELETE /networks/{id}.
func (d *Daemon) NetworkRemove(ctx context.Context, ref string) error {
	m, err := d.networks()
	if err != nil {
		return err
	}
	n, err := m.Remove(ref)
	if err != nil {
		return networkError(ref, err)
	}
	d.engine.NetworkEvent("destroy", n, "")
	return nil
}

// NetworkConnect answers POST /networks/{id}/connect.
func (d *Daemon) NetworkConnect(ctx context.Context, ref string, req *network.ConnectRequest) error {
	att := engine.NetworkAttachment{}
	if ec := req.EndpointConfig; ec != nil {
		att.Aliases = ec.Aliases
		if ec.IPAMConfig != nil && ec.IPAMConfig.IPv4Address.IsValid() {
			att.IPv4 = ec.IPAMConfig.IPv4Address.String()
		}
	}
	if _, err := d.NetworkInspect(ctx, ref); err != nil {
		return err
	}
	return containerError(req.Container, d.engine.Connect(ctx, req.Container, ref, att))
}

// NetworkDisconnect answers POST /networks/{id}/disconnect.
func (d *Daemon) NetworkDisconnect(ctx context.Context, ref string, req *network.DisconnectRequest) error {
	if _, err := d.NetworkInspect(ctx, ref); err != nil {
		return err
	}
	return containerError(req.Container, d.engine.Disconnect(ctx, req.Container, ref))
}

// NetworkPrune answers POST /networks/prune: user-defined networks no
// container is attached to.
func (d *Daemon) NetworkPrune(ctx context.Context, f map[string]map[string]bool) (*network.PruneReport, error) {
	m, err := d.networks()
	if err != nil {
		return nil, err
	}
	for k := range f {
		if k != "until" && k != "label" && k != "label!" {
			return nil, invalid("invalid filter '%s'", k)
		}
	}
	var until time.Time
	for v := range f["until"] {
		t, ok := parseTimeOrDuration(v, time.Now())
		if !ok {
			return nil, invalid("invalid filter 'until=%s'", v)
		}
		until = t
	}
	used := map[string]bool{}
	for _, c := range d.engine.List(ctx) {
		for _, a := range c.Spec.Networks {
			used[a.Network] = true
		}
	}
	rep := &network.PruneReport{NetworksDeleted: []string{}}
	for _, n := range m.List() {
		if isPredefined(&n) || len(n.Endpoints) > 0 || used[n.Name] || used[n.ID] {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !matchLabels(f["label"], n.Labels) || (len(f["label!"]) > 0 && matchLabels(f["label!"], n.Labels)) {
			continue
		}
		if _, err := m.Remove(n.ID); err == nil {
			d.engine.NetworkEvent("destroy", n, "")
			rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
		}
	}
	return rep, nil
}
