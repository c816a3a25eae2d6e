package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/containerd/errdefs"

	"github.com/hyperbox/hyperbox/engine/events"
	"github.com/hyperbox/hyperbox/engine/network"
)

// Networks is the network manager (nil when networking is off).
func (e *Engine) Networks() *network.Manager { return e.opts.Networks }

// NetworkEvent publishes a network event (create, destroy, connect,
// disconnect) with dockerd's attributes.
func (e *Engine) NetworkEvent(action string, n network.Network, containerID string) {
	attrs := map[string]string{"name": n.Name, "type": n.Driver}
	if containerID != "" {
		attrs["container"] = containerID
	}
	e.bus.Publish(events.Event{Type: "network", Action: action, ID: n.ID, Attributes: attrs})
}

// Connect attaches a container to a network: at once when it runs, and
// for every later start. Errors: NotFound, Conflict (already attached),
// InvalidArgument (container not in bridge mode).
func (e *Engine) Connect(ctx context.Context, ref, netRef string, att NetworkAttachment) error {
	if e.opts.Networks == nil {
		return fmt.Errorf("networking is disabled: %w", errdefs.ErrNotImplemented)
	}
	n, err := e.opts.Networks.Get(netRef)
	if err != nil {
		return err
	}
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.rec.Spec
	if !s.usesBridge() {
		return fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network: %w", errdefs.ErrInvalidArgument)
	}
	if len(s.Networks) == 0 {
		s.Networks = []NetworkAttachment{{Network: "bridge"}}
	}
	for _, a := range s.Networks {
		if a.Network == n.Name || a.Network == n.ID {
			return fmt.Errorf("endpoint with name %s already exists in network %s: %w", c.rec.Name, n.Name, errdefs.ErrConflict)
		}
	}
	att.Network = n.Name
	if c.rec.State.Running && c.rec.NetNS != "" {
		names := append([]string{c.rec.Name}, att.Aliases...)
		names = append(names, c.rec.ID[:12])
		ep, err := e.opts.Networks.Attach(c.rec.NetNS, n.ID, network.AttachRequest{
			ContainerID: c.rec.ID, Name: c.rec.Name, Aliases: att.Aliases, DNSNames: names,
			IfName: "eth" + strconv.Itoa(len(c.rec.Endpoints)),
		}, false)
		if err != nil {
			return err
		}
		if c.rec.Endpoints == nil {
			c.rec.Endpoints = map[string]EndpointInfo{}
		}
		c.rec.Endpoints[n.Name] = EndpointInfo{NetworkID: n.ID, EndpointID: ep.ID, IP: ep.IP, Gateway: ep.Gateway,
			MAC: ep.MAC, Aliases: att.Aliases, DNSNames: names}
		if c.dns == nil {
			if err := e.startDNS(c); err != nil {
				return err
			}
			_ = e.writeHostFiles(&c.rec)
		}
	}
	s.Networks = append(s.Networks, att)
	if err := e.save(c); err != nil {
		return err
	}
	e.NetworkEvent("connect", n, c.rec.ID)
	return nil
}

// Disconnect detaches a container from a network. Errors: NotFound,
// InvalidArgument (not connected).
func (e *Engine) Disconnect(ctx context.Context, ref, netRef string) error {
	if e.opts.Networks == nil {
		return fmt.Errorf("networking is disabled: %w", errdefs.ErrNotImplemented)
	}
	n, err := e.opts.Networks.Get(netRef)
	if err != nil {
		return err
	}
	c, err := e.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.rec.Spec
	atts := s.Networks
	if len(atts) == 0 && s.usesBridge() {
		atts = []NetworkAttachment{{Network: "bridge"}}
	}
	i := slices.IndexFunc(atts, func(a NetworkAttachment) bool { return a.Network == n.Name || a.Network == n.ID })
	if i < 0 {
		return fmt.Errorf("container %s is not connected to network %s: %w", c.rec.ID, n.Name, errdefs.ErrInvalidArgument)
	}
	if c.rec.State.Running {
		if err := e.opts.Networks.Detach(n.ID, c.rec.ID); err != nil {
			return err
		}
		delete(c.rec.Endpoints, n.Name)
	}
	s.Networks = slices.Delete(slices.Clone(atts), i, i+1)
	if len(s.Networks) == 0 {
		// dockerd leaves a disconnected container with no network.
		s.NetworkMode = "none"
	}
	if err := e.save(c); err != nil {
		return err
	}
	e.NetworkEvent("disconnect", n, c.rec.ID)
	return nil
}
