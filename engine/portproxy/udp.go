package portproxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxDatagram is the largest UDP payload (65535 - 8 - 20).
const maxDatagram = 65507

// udpProxy relays datagrams between clients of one host socket and the
// container, one flow (a connected socket towards the container) per
// client address.
type udpProxy struct {
	conn    *net.UDPConn
	backend *net.UDPAddr
	timeout time.Duration
	// pktinfo is set for wildcard listeners: the destination address of
	// each datagram is read from its control message and used as the
	// source of the replies, so a client that sent to one of several host
	// addresses gets its answers from that address.
	pktinfo bool

	mu     sync.Mutex
	flows  map[netip.AddrPort]*udpFlow
	closed bool
	wg     sync.WaitGroup
}

// udpFlow is one client's conversation with the container.
type udpFlow struct {
	client   netip.AddrPort
	backend  *net.UDPConn
	local    atomic.Pointer[netip.Addr] // where the client sent to (pktinfo only)
	lastSeen atomic.Int64               // unix nanoseconds of the last datagram either way
}

func startUDP(b Binding, timeout time.Duration) (*udpProxy, uint16, error) {
	network, address := listenAddr(b)
	laddr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, 0, bindError(b, err)
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, 0, bindError(b, err)
	}
	p := &udpProxy{
		conn:    conn,
		backend: net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.ContainerIP, b.ContainerPort)),
		timeout: timeout,
		flows:   map[netip.AddrPort]*udpFlow{},
	}
	if !b.HostIP.IsValid() || b.HostIP.IsUnspecified() {
		if err := enablePktinfo(conn); err != nil {
			conn.Close()
			return nil, 0, bindError(b, err)
		}
		p.pktinfo = true
	}
	p.wg.Add(1)
	go p.readLoop()
	return p, uint16(conn.LocalAddr().(*net.UDPAddr).Port), nil
}

// readLoop reads client datagrams and hands them to their flow.
func (p *udpProxy) readLoop() {
	defer p.wg.Done()
	buf := make([]byte, maxDatagram)
	oob := make([]byte, 128)
	for {
		n, oobn, _, client, err := p.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ECONNREFUSED queued by an ICMP error
		}
		var local netip.Addr
		if p.pktinfo {
			local = parsePktinfo(oob[:oobn])
		}
		f := p.flow(client, local)
		if f == nil {
			continue // closing, or the container address cannot be reached
		}
		f.touch()
		// A failed write (ECONNREFUSED after an ICMP port unreachable) is
		// a lost datagram, as on the wire.
		_, _ = f.backend.Write(buf[:n])
	}
}

// flow returns the client's flow, starting it if needed; nil when closing.
func (p *udpProxy) flow(client netip.AddrPort, local netip.Addr) *udpFlow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if f, ok := p.flows[client]; ok {
		if local.IsValid() {
			f.local.Store(&local)
		}
		return f
	}
	backend, err := net.DialUDP("udp", nil, p.backend)
	if err != nil {
		return nil
	}
	f := &udpFlow{client: client, backend: backend}
	if local.IsValid() {
		f.local.Store(&local)
	}
	f.touch()
	p.flows[client] = f
	p.wg.Add(1)
	go p.replyLoop(f)
	return f
}

// replyLoop sends the container's datagrams back to the client from the
// listening socket until the flow is idle for the timeout or closed.
func (p *udpProxy) replyLoop(f *udpFlow) {
	defer p.wg.Done()
	defer p.endFlow(f)
	buf := make([]byte, maxDatagram)
	for {
		deadline := time.Unix(0, f.lastSeen.Load()).Add(p.timeout)
		if !time.Now().Before(deadline) {
			return
		}
		f.backend.SetReadDeadline(deadline)
		n, err := f.backend.Read(buf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				continue // the loop head decides whether the flow is idle
			case errors.Is(err, syscall.ECONNREFUSED):
				continue // nothing listens in the container (yet)
			}
			return
		}
		f.touch()
		var oob []byte
		if l := f.local.Load(); l != nil {
			oob = pktinfoFrom(*l)
		}
		_, _, _ = p.conn.WriteMsgUDPAddrPort(buf[:n], oob, f.client)
	}
}

func (f *udpFlow) touch() { f.lastSeen.Store(time.Now().UnixNano()) }

// endFlow forgets f and closes its socket.
func (p *udpProxy) endFlow(f *udpFlow) {
	p.mu.Lock()
	if p.flows[f.client] == f {
		delete(p.flows, f.client)
	}
	p.mu.Unlock()
	f.backend.Close()
}

func (p *udpProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *udpProxy) close() {
	p.mu.Lock()
	p.closed = true
	flows := p.flows
	p.flows = map[netip.AddrPort]*udpFlow{}
	p.mu.Unlock()

	p.conn.Close()
	for _, f := range flows {
		f.backend.Close()
	}
	p.wg.Wait()
}
