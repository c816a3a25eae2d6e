// Package dnsserver is the embedded DNS server containers on user-defined
// networks use, as dockerd's at 127.0.0.11: it answers A, AAAA and PTR
// queries for the names a container can see (container names, aliases,
// short IDs, hostnames, "name.network"), supplied by a Resolver, and
// forwards every other query unchanged to the host's resolvers.
//
// One Server runs per container. Its sockets are created inside the
// container's network namespace, and it is served, and its queries are
// forwarded, from the daemon's own namespace: a socket keeps the namespace
// it was created in, so upstreams on the host's loopback (systemd-resolved's
// 127.0.0.53) work.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NameServer is the address containers send their queries to: the
// "nameserver" line of their resolv.conf (written with "options ndots:0",
// as dockerd does).
const NameServer = "127.0.0.11"

// listenAddr is where the server listens inside the container's namespace.
// dockerd listens on random ports there and DNATs port 53 to them with
// iptables rules in the namespace; listening on port 53 itself needs no
// firewall rules and looks the same to the container.
var listenAddr = netip.AddrPortFrom(netip.MustParseAddr(NameServer), 53)

// Resolver answers for the names one container can see. The lead's
// endpoint table implements it; the Server calls it concurrently from
// query goroutines, so it must be safe for concurrent use and must not
// block.
type Resolver interface {
	// Lookup returns the addresses, IPv4 and IPv6 mixed, of name (lower
	// case, without a trailing dot). An empty result means the name is not
	// a container-scoped name and the query is forwarded upstream. The
	// Server does not modify the returned slice.
	Lookup(name string) []netip.Addr
	// Reverse returns the name of a container address for PTR queries
	// (without a trailing dot), or "" when ip is not known.
	Reverse(ip netip.Addr) string
}

// Server is one container's embedded DNS server.
type Server struct {
	resolver  Resolver
	upstreams atomic.Pointer[[]string]
	rotation  atomic.Uint32   // round-robin offset, advanced per answer
	fwdSlots  chan struct{}   // limits concurrent forwarded queries
	ctx       context.Context // cancelled by Close: aborts forwarded queries
	cancel    context.CancelFunc
	udp, tcp  *dns.Server
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start listens on UDP and TCP 127.0.0.11:53 inside the network namespace
// bound at nsPath (bringing its loopback up if it is down) and serves
// queries until Close. upstreams are the servers unknown names are
// forwarded to, "ip:port" or "ip" (port 53), tried in order; none means
// such queries are answered SERVFAIL (dockerd's behaviour on an Internal
// network whose upstreams are unreachable).
//
// Errors: errdefs.ErrInvalidArgument for a malformed upstream; otherwise
// the namespace or listen failure (an address in use when a server already
// runs in that namespace).
func Start(nsPath string, r Resolver, upstreams []string) (*Server, error) {
	ups, err := parseUpstreams(upstreams)
	if err != nil {
		return nil, err
	}
	pc, ln, err := listenInNetns(nsPath)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		resolver: r,
		fwdSlots: make(chan struct{}, maxForwards),
		ctx:      ctx,
		cancel:   cancel,
	}
	s.upstreams.Store(&ups)
	s.udp = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.serveDNS), UDPSize: dns.DefaultMsgSize}
	s.tcp = &dns.Server{Listener: ln, Handler: dns.HandlerFunc(s.serveDNS)}
	if err := s.serve(s.udp, s.tcp); err != nil {
		s.Close()
		return nil, fmt.Errorf("dns server in %s: %w", nsPath, err)
	}
	return s, nil
}

// serve starts the servers and returns once both accept queries, so that
// Close, which needs a started server, cannot race with the start.
func (s *Server) serve(servers ...*dns.Server) error {
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { errs <- nil }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := srv.ActivateAndServe(); err != nil {
				errs <- err
			}
		}()
	}
	var firstErr error
	for range servers {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// SetUpstreams replaces the servers unknown names are forwarded to, for
// the queries that arrive afterwards. Errors: errdefs.ErrInvalidArgument.
func (s *Server) SetUpstreams(upstreams []string) error {
	ups, err := parseUpstreams(upstreams)
	if err != nil {
		return err
	}
	s.upstreams.Store(&ups)
	return nil
}

// Close stops the server: forwarded queries in flight are abandoned, both
// sockets are closed, and Close returns when every goroutine of the server
// has ended. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			// Shutdown closes the socket and waits for the handlers; it
			// fails only for a server that never started, whose socket
			// is then closed here.
			if err := srv.Shutdown(); err != nil {
				if srv.PacketConn != nil {
					srv.PacketConn.Close()
				}
				if srv.Listener != nil {
					srv.Listener.Close()
				}
			}
		}
		s.wg.Wait()
	})
}

// parseUpstreams normalises "ip" and "ip:port" to "ip:port".
func parseUpstreams(upstreams []string) ([]string, error) {
	out := make([]string, 0, len(upstreams))
	for _, u := range upstreams {
		if ap, err := netip.ParseAddrPort(u); err == nil && ap.Port() != 0 {
			out = append(out, ap.String())
			continue
		}
		if a, err := netip.ParseAddr(u); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53).String())
			continue
		}
		return nil, fmt.Errorf("invalid upstream DNS server %q: %w", u, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// listenInNetns creates the server's sockets inside the namespace at
// nsPath. Namespaces belong to OS threads, so the work runs on a locked
// thread of a goroutine of its own; if the thread cannot be switched back,
// it stays locked and the runtime ends it with the goroutine.
func listenInNetns(nsPath string) (net.PacketConn, net.Listener, error) {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()

	type result struct {
		pc  net.PacketConn
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("get current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter network namespace %s: %w", nsPath, err)}
			return
		}
		var res result
		res.pc, res.ln, res.err = listenHere()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine
			// instead of running other goroutines in the wrong namespace.
			res.err = errors.Join(res.err, fmt.Errorf("return to the daemon's network namespace: %w", err))
		} else {
			runtime.UnlockOSThread()
		}
		ch <- res
	}()
	res := <-ch
	if res.err != nil {
		if res.pc != nil {
			res.pc.Close()
		}
		if res.ln != nil {
			res.ln.Close()
		}
		return nil, nil, res.err
	}
	return res.pc, res.ln, nil
}

// listenHere opens the UDP and TCP sockets in the current thread's
// namespace, bringing its loopback up first when needed (127.0.0.11 is
// a loopback address only once lo is up).
func listenHere() (net.PacketConn, net.Listener, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, nil, fmt.Errorf("find lo: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(lo); err != nil {
			return nil, nil, fmt.Errorf("bring lo up: %w", err)
		}
	}
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(listenAddr))
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(listenAddr))
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, ln, nil
}

// forwardTimeout bounds one upstream exchange (dockerd: 4 s); glibc's
// default resolver timeout is 5 s, so two silent upstreams still leave
// time for a third. A variable for tests.
var forwardTimeout = 2 * time.Second

// maxForwards limits the forwarded queries in flight per server (dockerd:
// 1024 per container).
const maxForwards = 256
