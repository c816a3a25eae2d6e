package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hyperbox/hyperbox/engine/network"
)

// NetworkAttachment asks for an endpoint on a network at start.
type NetworkAttachment struct {
	Network string // name or ID
	Aliases []string
	IPv4    string
}

// PortSpec is a requested port publication.
type PortSpec struct {
	Proto         string // tcp or udp
	HostIP        string // "" = all addresses
	HostPort      string // "" or "0" = any free port
	ContainerPort uint16
}

// PortBinding is a published port as it was opened.
type PortBinding struct {
	Proto         string
	HostIP        string
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// PortPublisher opens host ports that forward to a container address.
type PortPublisher interface {
	// Publish opens b (HostPort 0: any free port) and returns what it opened.
	Publish(b PortBinding) (PortBinding, error)
	Unpublish(b PortBinding) error
}

// DNSStarter starts the embedded DNS server inside a container's network
// namespace; lookup and reverse answer for that container, other names go
// to upstreams ("ip:port"; empty = the host's resolvers).
type DNSStarter func(nsPath string, upstreams []string, lookup func(name string) []netip.Addr, reverse func(ip netip.Addr) string) (io.Closer, error)

// EndpointInfo is what the container record keeps of an endpoint.
type EndpointInfo struct {
	NetworkID  string
	EndpointID string
	IP         netip.Prefix
	Gateway    netip.Addr
	MAC        string
	Aliases    []string
	DNSNames   []string
}

// usesBridge reports whether the container gets its own namespace plugged
// into bridge networks (the default, or named networks).
func (s *ContainerSpec) usesBridge() bool {
	return s.NetworkMode == "" || s.NetworkMode == "bridge"
}

func (e *Engine) netnsPath(id string) string { return filepath.Join(e.opts.ExecRoot, "netns", id) }

// setupNetwork gives the container its network before the task starts:
// a pinned namespace with one endpoint per network, the hosts files, the
// embedded DNS (user-defined networks) and the published ports. The
// caller holds c.mu.
func (e *Engine) setupNetwork(ctx context.Context, c *ctr, cc containerd.Container) (err error) {
	s := &c.rec.Spec
	var nsPath string
	switch {
	case strings.HasPrefix(s.NetworkMode, "container:"):
		other, lerr := e.lookup(strings.TrimPrefix(s.NetworkMode, "container:"))
		if lerr != nil {
			return fmt.Errorf("cannot join network of a non running container: %w", lerr)
		}
		other.mu.Lock()
		pid, running := other.rec.State.Pid, other.rec.State.Running
		other.mu.Unlock()
		if !running {
			return fmt.Errorf("cannot join network of a non running container: %s: %w", other.rec.ID, errdefs.ErrConflict)
		}
		nsPath = "/proc/" + strconv.Itoa(pid) + "/ns/net"
	case s.usesBridge() && e.opts.Networks != nil:
		var spare string
		nsPath, spare = e.claimFirstNetwork(s)
		if spare == "" {
			nsPath = e.netnsPath(c.rec.ID)
			_ = network.DeleteNamespace(nsPath)
			if err := network.NewNamespace(nsPath); err != nil {
				return err
			}
		}
		c.rec.NetNS = nsPath
		defer func() {
			if err != nil {
				e.teardownNetwork(c)
			}
		}()
		if spare == "" {
			if err := network.LoopbackOnly(nsPath); err != nil {
				return err
			}
		}
		if err := e.attachEndpoints(c, nsPath, spare); err != nil {
			return err
		}
	default:
		return e.writeHostFiles(&c.rec)
	}
	if err := cc.Update(ctx, withNetNSPath(nsPath)); err != nil {
		return fmt.Errorf("set network namespace: %w", err)
	}
	if err := e.writeHostFiles(&c.rec); err != nil {
		return err
	}
	if strings.HasPrefix(s.NetworkMode, "container:") {
		return nil
	}
	if err := e.startDNS(c); err != nil {
		return err
	}
	return e.publishPorts(c)
}

// withNetNSPath points the stored spec's network namespace at path.
func withNetNSPath(path string) containerd.UpdateContainerOpts {
	return func(ctx context.Context, client *containerd.Client, cr *containers.Container) error {
		var sp oci.Spec
		if err := jsonUnmarshalAny(cr.Spec, &sp); err != nil {
			return err
		}
		return containerd.WithSpec(&sp, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path}))(ctx, client, cr)
	}
}

// attachments are the networks a bridge-mode container joins, in order.
func (s *ContainerSpec) attachments() []NetworkAttachment {
	if len(s.Networks) == 0 {
		return []NetworkAttachment{{Network: "bridge"}}
	}
	return s.Networks
}

// claimFirstNetwork takes a pool namespace already wired to the
// container's first network (prewarm_netns.go): its path and the host end
// of its veth pair, or "" for both on a miss.
func (e *Engine) claimFirstNetwork(s *ContainerSpec) (nsPath, hostVeth string) {
	if e.prewarm == nil || e.prewarm.netns == nil {
		return "", "" // no pool: spare the network lookup
	}
	n, err := e.opts.Networks.Get(s.attachments()[0].Network)
	if err != nil || n.Driver != network.DriverBridge {
		return "", ""
	}
	nsPath, hostVeth, _ = e.claimNetns(n.ID)
	return nsPath, hostVeth
}

// attachEndpoints gives the container an endpoint on each of its
// networks; spare, if not empty, is the host end of a pool veth pair
// already wired to the first one.
func (e *Engine) attachEndpoints(c *ctr, nsPath, spare string) error {
	s := &c.rec.Spec
	atts := s.attachments()
	c.rec.Endpoints = map[string]EndpointInfo{}
	for i, a := range atts {
		n, err := e.opts.Networks.Get(a.Network)
		if err != nil {
			return err
		}
		var ip netip.Addr
		if a.IPv4 != "" {
			if ip, err = netip.ParseAddr(a.IPv4); err != nil {
				return fmt.Errorf("invalid IPv4 address %q: %w", a.IPv4, errdefs.ErrInvalidArgument)
			}
		}
		names := []string{}
		if !n.Default {
			names = append(names, c.rec.Name)
			names = append(names, a.Aliases...)
			names = append(names, c.rec.ID[:12])
			if s.Hostname != "" && s.Hostname != c.rec.Name {
				names = append(names, s.Hostname)
			}
		}
		req := network.AttachRequest{
			ContainerID: c.rec.ID, Name: c.rec.Name, Aliases: a.Aliases, DNSNames: names,
			IPv4: ip, IfName: "eth" + strconv.Itoa(i),
		}
		var ep network.Endpoint
		if i == 0 && spare != "" {
			if ep, err = e.opts.Networks.AttachSpare(nsPath, n.ID, req, true, spare); err != nil {
				// Not an endpoint yet: DetachAll would not remove it.
				_ = network.DeleteLink(spare)
			}
		} else {
			ep, err = e.opts.Networks.Attach(nsPath, n.ID, req, i == 0)
		}
		if err != nil {
			return err
		}
		c.rec.Endpoints[n.Name] = EndpointInfo{NetworkID: n.ID, EndpointID: ep.ID, IP: ep.IP, Gateway: ep.Gateway,
			MAC: ep.MAC, Aliases: a.Aliases, DNSNames: names}
	}
	return nil
}

// startDNS runs the embedded DNS when the container is on a user-defined
// network (dockerd gives the default bridge none). The caller holds c.mu.
func (e *Engine) startDNS(c *ctr) error {
	if e.opts.DNS == nil || !c.rec.onUserNetwork(e) {
		return nil
	}
	id := c.rec.ID
	var upstreams []string
	for _, d := range c.rec.Spec.DNS {
		upstreams = append(upstreams, net.JoinHostPort(d, "53"))
	}
	srv, err := e.opts.DNS(c.rec.NetNS, upstreams,
		func(name string) []netip.Addr { return e.opts.Networks.Resolve(id, name) },
		func(ip netip.Addr) string { return e.opts.Networks.ReverseName(id, ip) })
	if err != nil {
		return fmt.Errorf("start embedded DNS: %w", err)
	}
	c.dns = srv
	return nil
}

func (r *Container) onUserNetwork(e *Engine) bool {
	for name := range r.Endpoints {
		if n, err := e.opts.Networks.Get(name); err == nil && !n.Default {
			return true
		}
	}
	return false
}

// publishPorts opens the container's published ports. The caller holds c.mu.
func (e *Engine) publishPorts(c *ctr) error {
	if e.opts.Ports == nil || len(c.rec.Spec.PortBindings) == 0 {
		return nil
	}
	ip := c.rec.primaryIP()
	if !ip.IsValid() {
		return nil
	}
	prev := c.rec.Ports
	c.rec.Ports = nil
	for _, p := range c.rec.Spec.PortBindings {
		port := uint16(0)
		if old, ok := previousPort(prev, p); ok && strings.Contains(p.HostPort, "-") {
			// After a daemon restart a range keeps the port it had (another
			// container may not have been restored yet).
			if b, err := e.opts.Ports.Publish(PortBinding{Proto: p.Proto, HostIP: p.HostIP, HostPort: old, ContainerIP: ip, ContainerPort: p.ContainerPort}); err == nil {
				c.rec.Ports = append(c.rec.Ports, b)
				continue
			}
		}
		if lo, hi, isRange := strings.Cut(p.HostPort, "-"); isRange {
			// A host port range: the first free port of it.
			b, err := e.publishRange(c, p, lo, hi, ip)
			if err != nil {
				return err
			}
			c.rec.Ports = append(c.rec.Ports, b)
			continue
		}
		if p.HostPort != "" && p.HostPort != "0" {
			n, err := strconv.ParseUint(p.HostPort, 10, 16)
			if err != nil {
				return fmt.Errorf("invalid host port %q: %w", p.HostPort, errdefs.ErrInvalidArgument)
			}
			port = uint16(n)
		} else if old, ok := previousPort(prev, p); ok {
			// After a daemon restart, keep the port the binding had.
			port = old
		}
		b, err := e.opts.Ports.Publish(PortBinding{Proto: p.Proto, HostIP: p.HostIP, HostPort: port, ContainerIP: ip, ContainerPort: p.ContainerPort})
		if err != nil {
			return fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", c.rec.Name, c.rec.ID[:12], err)
		}
		c.rec.Ports = append(c.rec.Ports, b)
	}
	return nil
}

func (r *Container) primaryIP() netip.Addr {
	var first netip.Addr
	for _, ep := range r.Endpoints {
		if !first.IsValid() || ep.IP.Addr().Less(first) {
			first = ep.IP.Addr()
		}
	}
	if len(r.Spec.Networks) > 0 {
		if ep, ok := r.Endpoints[r.Spec.Networks[0].Network]; ok {
			return ep.IP.Addr()
		}
	}
	return first
}

// teardownNetwork releases what setupNetwork took. The caller holds c.mu.
func (e *Engine) teardownNetwork(c *ctr) {
	if c.dns != nil {
		_ = c.dns.Close()
		c.dns = nil
	}
	if e.opts.Ports != nil {
		for _, b := range c.rec.Ports {
			if err := e.opts.Ports.Unpublish(b); err != nil {
				log.G(e.rootCtx).WithError(err).Debug("unpublish port")
			}
		}
	}
	if e.opts.Networks != nil {
		e.opts.Networks.DetachAll(c.rec.ID)
	}
	e.releaseNetns(c)
	c.rec.Endpoints = nil
}

// releaseNetns removes the container's pinned network namespace. After a
// daemon restart that found the task gone, it is all that is left of the
// network (Networks.Retain drops the endpoints).
func (e *Engine) releaseNetns(c *ctr) {
	if c.rec.NetNS == "" {
		return
	}
	if err := network.DeleteNamespace(c.rec.NetNS); err != nil {
		log.G(e.rootCtx).WithError(err).WithField("id", c.rec.ID).Warn("delete network namespace")
	}
	c.rec.NetNS = ""
}

// restoreNetwork brings back the daemon-side parts of a running
// container's network after a daemon restart (DNS, published ports); its
// namespace and endpoints survived. The caller holds c.mu.
func (e *Engine) restoreNetwork(c *ctr) {
	if c.rec.NetNS == "" {
		return
	}
	if _, err := os.Stat(c.rec.NetNS); err != nil {
		return
	}
	if err := e.startDNS(c); err != nil {
		log.G(e.rootCtx).WithError(err).Warn("restore embedded DNS")
	}
	if err := e.publishPorts(c); err != nil {
		log.G(e.rootCtx).WithError(err).Warn("restore published ports")
	}
}

// publishRange opens the first free host port of lo-hi for p.
func (e *Engine) publishRange(c *ctr, p PortSpec, lo, hi string, ip netip.Addr) (PortBinding, error) {
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return PortBinding{}, fmt.Errorf("invalid host port range %q: %w", p.HostPort, errdefs.ErrInvalidArgument)
	}
	var lastErr error
	for port := first; port <= last; port++ {
		b, err := e.opts.Ports.Publish(PortBinding{Proto: p.Proto, HostIP: p.HostIP, HostPort: uint16(port), ContainerIP: ip, ContainerPort: p.ContainerPort})
		if err == nil {
			return b, nil
		}
		lastErr = err
	}
	return PortBinding{}, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %w", c.rec.Name, c.rec.ID[:12], lastErr)
}

// previousPort is the host port a binding had before (daemon restart).
func previousPort(prev []PortBinding, p PortSpec) (uint16, bool) {
	for _, old := range prev {
		if old.Proto == p.Proto && old.ContainerPort == p.ContainerPort && old.HostIP == p.HostIP {
			return old.HostPort, true
		}
	}
	return 0, false
}
