package portproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// dialTimeout bounds the connection attempt to the container.
const dialTimeout = 10 * time.Second

// tcpProxy accepts on one host listener and relays each connection to the
// container address.
type tcpProxy struct {
	ln      net.Listener
	backend string
	ctx     context.Context // cancelled by close: aborts pending dials
	cancel  context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startTCP(b Binding) (*tcpProxy, uint16, error) {
	network, address := listenAddr(b)
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, 0, bindError(b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &tcpProxy{
		ln:      ln,
		backend: netip.AddrPortFrom(b.ContainerIP, b.ContainerPort).String(),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[net.Conn]struct{}{},
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, uint16(ln.Addr().(*net.TCPAddr).Port), nil
}

func (p *tcpProxy) acceptLoop() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (EMFILE, ENFILE, ECONNABORTED): back off
			// rather than spin, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve relays one client connection until both directions are done.
func (p *tcpProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrackClose(client)

	d := net.Dialer{Timeout: dialTimeout}
	backend, err := d.DialContext(p.ctx, "tcp", p.backend)
	if err != nil {
		// Nothing listens in the container (yet): the client sees the
		// connection closed, as with docker-proxy.
		return
	}
	if !p.track(backend) {
		backend.Close()
		return
	}
	defer p.untrackClose(backend)

	done := make(chan struct{})
	go func() {
		defer close(done)
		relay(backend, client)
	}()
	relay(client, backend)
	<-done
}

// relay copies src to dst. On EOF it half-closes dst so the peer sees the
// end of the stream while the other direction keeps flowing; on an error
// (reset, or close by Remove) it closes both so the other direction ends too.
func relay(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			if cw.CloseWrite() == nil {
				return
			}
		}
	}
	src.Close()
	dst.Close()
}

func (p *tcpProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// track registers c for close; it returns false when the proxy is closing.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrackClose(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()

	p.cancel()
	p.ln.Close()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}
