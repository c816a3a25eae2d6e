// Package portproxy is the userland proxy that publishes container ports on
// the host, run in-process by hyperboxd (dockerd runs one docker-proxy
// process per binding instead).
//
// Each Binding gets a host listener. TCP connections are accepted, a
// connection to the container address is dialled, and bytes are copied both
// ways with half-close. UDP datagrams are relayed per client address through
// a connected socket towards the container, and replies are sent back from
// the listening socket (from the address the client sent to) until the flow
// has been idle for the UDP timeout.
package portproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// DefaultUDPTimeout is how long a UDP flow lives without traffic in either
// direction (docker-proxy uses the same 90 s).
const DefaultUDPTimeout = 90 * time.Second

// Binding publishes one container port on the host.
type Binding struct {
	// Proto is "tcp" or "udp".
	Proto string
	// HostIP is the host address to listen on. The zero Addr means all
	// addresses, IPv4 and IPv6 (when the host has IPv6) on one port
	// number; 0.0.0.0 means all IPv4 addresses only, :: all IPv6 only.
	HostIP netip.Addr
	// HostPort is the host port; 0 lets the kernel pick a free one.
	HostPort uint16
	// ContainerIP and ContainerPort are where traffic is relayed to.
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// String returns the binding as "proto host -> container".
func (b Binding) String() string {
	return b.Proto + " " + hostAddr(b.HostIP, b.HostPort) + " -> " +
		netip.AddrPortFrom(b.ContainerIP, b.ContainerPort).String()
}

// BindError reports that the host side of a binding could not be bound.
// When InUse is true, dockerd words it (API 1.44 and later alike) as
//
//	driver failed programming external connectivity on endpoint <name> (<id>):
//	Bind for <HostAddr()> failed: port is already allocated
//
// and that sentence belongs to the compat layer.
type BindError struct {
	Proto    string
	HostIP   netip.Addr // as requested: the zero Addr means all addresses
	HostPort uint16     // as requested (0 when the kernel was asked to pick)
	Err      error
}

// Error returns "bind <proto> <host addr>: <cause>".
func (e *BindError) Error() string {
	return fmt.Sprintf("bind %s %s: %v", e.Proto, e.HostAddr(), e.Err)
}

// Unwrap returns the cause (a *net.OpError wrapping a syscall.Errno).
func (e *BindError) Unwrap() error { return e.Err }

// InUse reports whether the host address and port are already taken.
func (e *BindError) InUse() bool { return errors.Is(e.Err, syscall.EADDRINUSE) }

// HostAddr is the host address as dockerd prints it: "0.0.0.0:8080" for
// all addresses (dockerd names the IPv4 binding first), "[::]:8080",
// "127.0.0.1:8080".
func (e *BindError) HostAddr() string { return hostAddr(e.HostIP, e.HostPort) }

func hostAddr(ip netip.Addr, port uint16) string {
	if !ip.IsValid() {
		return "0.0.0.0:" + strconv.Itoa(int(port))
	}
	return netip.AddrPortFrom(ip, port).String()
}

// Option configures a Manager.
type Option func(*Manager)

// WithUDPTimeout sets how long an idle UDP flow is kept (DefaultUDPTimeout
// when not set).
func WithUDPTimeout(d time.Duration) Option {
	return func(m *Manager) {
		if d > 0 {
			m.udpTimeout = d
		}
	}
}

// proxy is one running binding.
type proxy interface {
	// close stops the listener, closes every connection or flow and
	// returns when all of the proxy's goroutines have ended.
	close()
}

// Manager runs the proxies of all published ports. It is safe for
// concurrent use.
type Manager struct {
	udpTimeout time.Duration

	mu      sync.Mutex
	proxies map[Binding]proxy
	closed  bool
}

// New returns a Manager with no bindings.
func New(opts ...Option) *Manager {
	m := &Manager{udpTimeout: DefaultUDPTimeout, proxies: map[Binding]proxy{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Add opens the host listener for b and starts relaying. It returns b with
// the real HostPort (the kernel's choice when b.HostPort is 0; for the zero
// HostIP the one port is valid on IPv4 and IPv6 alike, since a single
// dual-stack socket holds it).
//
// Errors: errdefs.ErrInvalidArgument for a malformed binding,
// errdefs.ErrNotImplemented for "sctp", errdefs.ErrUnavailable after Close,
// and *BindError when the host address cannot be bound (InUse() for a port
// already taken).
func (m *Manager) Add(b Binding) (Binding, error) {
	b, err := normalize(b)
	if err != nil {
		return Binding{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Binding{}, fmt.Errorf("port proxy is closed: %w", errdefs.ErrUnavailable)
	}
	var p proxy
	switch b.Proto {
	case "tcp":
		p, b.HostPort, err = startTCP(b)
	case "udp":
		p, b.HostPort, err = startUDP(b, m.udpTimeout)
	}
	if err != nil {
		return Binding{}, err
	}
	m.proxies[b] = p
	return b, nil
}

// Remove stops the proxy for b (as returned by Add), closing its listener
// and every live connection or UDP flow; it returns when the proxy's
// goroutines have ended. Errors: errdefs.ErrNotFound when b is not bound,
// errdefs.ErrInvalidArgument for a malformed binding.
func (m *Manager) Remove(b Binding) error {
	b, err := normalize(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	p, ok := m.proxies[b]
	delete(m.proxies, b)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("port binding %s: %w", b, errdefs.ErrNotFound)
	}
	p.close()
	return nil
}

// Close stops every proxy and makes later Adds fail. It returns when all
// goroutines have ended.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	proxies := m.proxies
	m.proxies = map[Binding]proxy{}
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
}

// normalize validates b and puts it in the form used as the map key.
func normalize(b Binding) (Binding, error) {
	switch b.Proto {
	case "tcp", "udp":
	case "sctp":
		return Binding{}, fmt.Errorf("publishing sctp ports: %w", errdefs.ErrNotImplemented)
	default:
		return Binding{}, fmt.Errorf("invalid protocol %q: %w", b.Proto, errdefs.ErrInvalidArgument)
	}
	b.HostIP = b.HostIP.Unmap()
	b.ContainerIP = b.ContainerIP.Unmap()
	if !b.ContainerIP.IsValid() || b.ContainerIP.IsUnspecified() {
		return Binding{}, fmt.Errorf("invalid container address %q: %w", b.ContainerIP, errdefs.ErrInvalidArgument)
	}
	if b.ContainerPort == 0 {
		return Binding{}, fmt.Errorf("container port 0: %w", errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// listenAddr returns the network and address to listen on for b: the zero
// HostIP listens on ":port", which Go opens as one AF_INET6 socket with
// IPV6_V6ONLY=0 (or AF_INET when the host has no IPv6); explicit addresses
// get a socket of their own family ("tcp6" sets IPV6_V6ONLY=1).
func listenAddr(b Binding) (network, address string) {
	port := strconv.Itoa(int(b.HostPort))
	switch {
	case !b.HostIP.IsValid():
		return b.Proto, ":" + port
	case b.HostIP.Is4():
		return b.Proto + "4", netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	default:
		return b.Proto + "6", netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	}
}

func bindError(b Binding, err error) error {
	return &BindError{Proto: b.Proto, HostIP: b.HostIP, HostPort: b.HostPort, Err: err}
}
