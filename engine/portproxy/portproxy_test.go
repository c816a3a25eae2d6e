package portproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// echoTCP runs a TCP echo server on 127.0.0.1 standing in for the
// container. Each connection is echoed until EOF, then half-closed, so
// the tests can see half-close travel both ways.
func echoTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	assert.NilError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
				// Wait for the peer to close before closing.
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// echoUDP runs a UDP echo server on 127.0.0.1 that prefixes each reply
// with "echo:".
func echoUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	assert.NilError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDPAddrPort(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// newManager returns a Manager closed at cleanup, after which the test
// checks that no goroutine of the package is left.
func newManager(t *testing.T, opts ...Option) *Manager {
	t.Helper()
	m := New(opts...)
	t.Cleanup(func() {
		m.Close()
		assertNoProxyGoroutines(t, m)
	})
	return m
}

// assertNoProxyGoroutines fails when m still holds proxies or a goroutine
// started by the package is still running. The tests that start proxies
// do not run in parallel, so any such goroutine is a leak.
func assertNoProxyGoroutines(t *testing.T, m *Manager) {
	t.Helper()
	m.mu.Lock()
	n := len(m.proxies)
	m.mu.Unlock()
	assert.Check(t, is.Equal(n, 0), "proxies left in the manager")
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		if s := proxyGoroutines(); s != "" {
			return poll.Continue("goroutines left:\n%s", s)
		}
		return poll.Success()
	}, poll.WithTimeout(5*time.Second), poll.WithDelay(20*time.Millisecond))
}

// proxyGoroutines returns the stacks of goroutines running the package's
// code (every goroutine it starts runs a method of tcpProxy or udpProxy).
func proxyGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaks []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "engine/portproxy.(*tcpProxy).") || strings.Contains(g, "engine/portproxy.(*udpProxy).") {
			leaks = append(leaks, g)
		}
	}
	return strings.Join(leaks, "\n\n")
}

func tcpBinding(backend netip.AddrPort) Binding {
	return Binding{Proto: "tcp", HostIP: loopback4, ContainerIP: backend.Addr(), ContainerPort: backend.Port()}
}

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	assert.NilError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c.(*net.TCPConn)
}

func hostPort(ip string, port uint16) string {
	return net.JoinHostPort(ip, fmt.Sprint(port))
}

func TestTCPRelayAndHalfClose(t *testing.T) {
	m := newManager(t)
	b, err := m.Add(tcpBinding(echoTCP(t)))
	assert.NilError(t, err)
	assert.Assert(t, b.HostPort != 0)

	c := dialTCP(t, hostPort("127.0.0.1", b.HostPort))
	r := bufio.NewReader(c)
	for i := range 3 {
		msg := fmt.Sprintf("line %d\n", i)
		_, err := c.Write([]byte(msg))
		assert.NilError(t, err)
		got, err := r.ReadString('\n')
		assert.NilError(t, err)
		assert.Equal(t, got, msg)
	}

	// Half-close: the echo server sees EOF, echoes what is still in flight,
	// and half-closes back; the client reads the tail and then EOF.
	big := bytes.Repeat([]byte("0123456789abcdef"), 64*1024) // 1 MiB
	go func() {
		_, _ = c.Write(big)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(r)
	assert.NilError(t, err)
	assert.Assert(t, bytes.Equal(got, big), "echoed %d bytes, want %d", len(got), len(big))
}

func TestTCPConcurrentConnections(t *testing.T) {
	m := newManager(t)
	b, err := m.Add(tcpBinding(echoTCP(t)))
	assert.NilError(t, err)

	const clients = 50
	errs := make(chan error, clients)
	for i := range clients {
		go func() {
			errs <- func() error {
				c, err := net.DialTimeout("tcp", hostPort("127.0.0.1", b.HostPort), 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				msg := bytes.Repeat([]byte{byte(i)}, 10000+i)
				go func() {
					_, _ = c.Write(msg)
					_ = c.(*net.TCPConn).CloseWrite()
				}()
				got, err := io.ReadAll(c)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, msg) {
					return fmt.Errorf("client %d: got %d bytes, want %d", i, len(got), len(msg))
				}
				return nil
			}()
		}()
	}
	for range clients {
		assert.Check(t, <-errs)
	}
}

func TestTCPRemoveClosesLiveConnections(t *testing.T) {
	m := New()
	defer m.Close()
	b, err := m.Add(tcpBinding(echoTCP(t)))
	assert.NilError(t, err)

	var conns []*net.TCPConn
	for range 5 {
		c := dialTCP(t, hostPort("127.0.0.1", b.HostPort))
		_, err := c.Write([]byte("ping\n"))
		assert.NilError(t, err)
		_, err = bufio.NewReader(c).ReadString('\n')
		assert.NilError(t, err)
		conns = append(conns, c)
	}

	assert.NilError(t, m.Remove(b))
	assertNoProxyGoroutines(t, m)

	for _, c := range conns {
		_, err := c.Read(make([]byte, 1))
		assert.Check(t, err != nil, "connection still open after Remove")
	}
	_, err = net.DialTimeout("tcp", hostPort("127.0.0.1", b.HostPort), time.Second)
	assert.Check(t, err != nil, "listener still open after Remove")

	err = m.Remove(b)
	assert.Check(t, errdefs.IsNotFound(err), "second Remove: %v", err)
}

func TestTCPBackendDown(t *testing.T) {
	// Nothing listens on the container port: the client's connection is
	// accepted and then closed.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	assert.NilError(t, err)
	dead := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()

	m := newManager(t)
	b, err := m.Add(tcpBinding(dead))
	assert.NilError(t, err)
	c := dialTCP(t, hostPort("127.0.0.1", b.HostPort))
	_, err = c.Read(make([]byte, 1))
	assert.Check(t, err != nil)
}

func TestUDPRoundTripTwoClients(t *testing.T) {
	backend := echoUDP(t)
	m := newManager(t)
	b, err := m.Add(Binding{Proto: "udp", HostIP: loopback4, ContainerIP: backend.Addr(), ContainerPort: backend.Port()})
	assert.NilError(t, err)
	assert.Assert(t, b.HostPort != 0)

	c1 := dialUDP(t, hostPort("127.0.0.1", b.HostPort))
	c2 := dialUDP(t, hostPort("127.0.0.1", b.HostPort))
	for i := range 3 {
		assert.Equal(t, udpExchange(t, c1, fmt.Sprintf("one-%d", i)), fmt.Sprintf("echo:one-%d", i))
		assert.Equal(t, udpExchange(t, c2, fmt.Sprintf("two-%d", i)), fmt.Sprintf("echo:two-%d", i))
	}

	m.mu.Lock()
	p := m.proxies[b].(*udpProxy)
	m.mu.Unlock()
	p.mu.Lock()
	flows := len(p.flows)
	p.mu.Unlock()
	assert.Equal(t, flows, 2)
}

func TestUDPIdleFlowExpires(t *testing.T) {
	backend := echoUDP(t)
	m := newManager(t, WithUDPTimeout(200*time.Millisecond))
	b, err := m.Add(Binding{Proto: "udp", HostIP: loopback4, ContainerIP: backend.Addr(), ContainerPort: backend.Port()})
	assert.NilError(t, err)

	c := dialUDP(t, hostPort("127.0.0.1", b.HostPort))
	assert.Equal(t, udpExchange(t, c, "hello"), "echo:hello")

	m.mu.Lock()
	p := m.proxies[b].(*udpProxy)
	m.mu.Unlock()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.flows) != 0 {
			return poll.Continue("%d flows", len(p.flows))
		}
		return poll.Success()
	}, poll.WithTimeout(5*time.Second))

	// The same client starts a new flow.
	assert.Equal(t, udpExchange(t, c, "again"), "echo:again")
}

// TestUDPReplyFromDestinationAddress sends to 127.0.0.2 on a wildcard
// listener: the kernel would pick 127.0.0.1 as the reply's source, which a
// connected client drops. The reply must come from the address used.
func TestUDPReplyFromDestinationAddress(t *testing.T) {
	backend := echoUDP(t)
	m := newManager(t)
	b, err := m.Add(Binding{Proto: "udp", ContainerIP: backend.Addr(), ContainerPort: backend.Port()})
	assert.NilError(t, err)

	c := dialUDP(t, hostPort("127.0.0.2", b.HostPort))
	assert.Equal(t, udpExchange(t, c, "from .2"), "echo:from .2")
	if ipv6Loopback() {
		c6 := dialUDP(t, hostPort("::1", b.HostPort))
		assert.Equal(t, udpExchange(t, c6, "over v6"), "echo:over v6")
	}
}

func dialUDP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	assert.NilError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func udpExchange(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	buf := make([]byte, 1500)
	// UDP on loopback is not lossy, but the first datagram can race the
	// flow's start; retry a few times.
	for range 5 {
		_, err := c.Write([]byte(msg))
		assert.NilError(t, err)
		assert.NilError(t, c.SetReadDeadline(time.Now().Add(time.Second)))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read: %v", err)
		}
	}
	t.Fatalf("no reply to %q", msg)
	return ""
}

func ipv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func TestRandomPortSameOnIPv4AndIPv6(t *testing.T) {
	backend := echoTCP(t)
	m := newManager(t)
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			got, err := m.Add(Binding{Proto: proto, ContainerIP: backend.Addr(), ContainerPort: backend.Port()})
			assert.NilError(t, err)
			assert.Assert(t, got.HostPort != 0)
			assert.Check(t, !got.HostIP.IsValid())

			// The one port is taken on IPv4 and IPv6 alike.
			err = tryBind(proto+"4", hostPort("0.0.0.0", got.HostPort))
			assert.Check(t, errors.Is(err, syscall.EADDRINUSE), "IPv4 bind: %v", err)
			v6 := ipv6Loopback()
			if v6 {
				err = tryBind(proto+"6", hostPort("::", got.HostPort))
				assert.Check(t, errors.Is(err, syscall.EADDRINUSE), "IPv6 bind: %v", err)
			} else {
				t.Log("no IPv6 on this host")
			}
			if proto != "tcp" {
				return
			}
			addrs := []string{"127.0.0.1"}
			if v6 {
				addrs = append(addrs, "::1")
			}
			for _, a := range addrs {
				c := dialTCP(t, hostPort(a, got.HostPort))
				_, err = c.Write([]byte(a + "\n"))
				assert.NilError(t, err)
				line, err := bufio.NewReader(c).ReadString('\n')
				assert.NilError(t, err)
				assert.Equal(t, line, a+"\n")
			}
		})
	}
}

// tryBind binds address on network and releases it at once.
func tryBind(network, address string) error {
	var (
		c   io.Closer
		err error
	)
	if strings.HasPrefix(network, "tcp") {
		c, err = net.Listen(network, address)
	} else {
		c, err = net.ListenPacket(network, address)
	}
	if err == nil {
		c.Close()
	}
	return err
}

func TestPortInUse(t *testing.T) {
	backend := echoTCP(t)
	m := newManager(t)
	tests := []struct {
		name   string
		proto  string
		hostIP netip.Addr
		holdAt string
		want   string
	}{
		{name: "tcp all addresses", proto: "tcp", holdAt: "0.0.0.0", want: "0.0.0.0:"},
		{name: "tcp loopback", proto: "tcp", hostIP: loopback4, holdAt: "127.0.0.1", want: "127.0.0.1:"},
		{name: "udp all addresses", proto: "udp", holdAt: "0.0.0.0", want: "0.0.0.0:"},
		{name: "udp loopback", proto: "udp", hostIP: loopback4, holdAt: "127.0.0.1", want: "127.0.0.1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := holdPort(t, tc.proto, tc.holdAt)
			_, err := m.Add(Binding{Proto: tc.proto, HostIP: tc.hostIP, HostPort: port,
				ContainerIP: backend.Addr(), ContainerPort: backend.Port()})
			var be *BindError
			assert.Assert(t, errors.As(err, &be), "got %v", err)
			assert.Check(t, be.InUse())
			assert.Check(t, is.Equal(be.HostPort, port))
			assert.Check(t, is.Equal(be.HostIP, tc.hostIP))
			assert.Check(t, is.Equal(be.HostAddr(), tc.want+fmt.Sprint(port)))
			assert.Check(t, is.ErrorContains(err, "address already in use"))
		})
	}

	t.Run("second add of a bound port", func(t *testing.T) {
		b, err := m.Add(tcpBinding(backend))
		assert.NilError(t, err)
		_, err = m.Add(b)
		var be *BindError
		assert.Assert(t, errors.As(err, &be), "got %v", err)
		assert.Check(t, be.InUse())
	})
}

// holdPort binds a free port on addr for the rest of the test.
func holdPort(t *testing.T, proto, addr string) uint16 {
	t.Helper()
	var (
		c    io.Closer
		port int
	)
	if proto == "tcp" {
		ln, err := net.Listen("tcp4", hostPort(addr, 0))
		assert.NilError(t, err)
		c, port = ln, ln.Addr().(*net.TCPAddr).Port
	} else {
		pc, err := net.ListenPacket("udp4", hostPort(addr, 0))
		assert.NilError(t, err)
		c, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
	}
	t.Cleanup(func() { c.Close() })
	return uint16(port)
}

func TestSpecificHostIPOnlyListensThere(t *testing.T) {
	backend := echoTCP(t)
	m := newManager(t)
	b, err := m.Add(tcpBinding(backend))
	assert.NilError(t, err)

	c := dialTCP(t, hostPort("127.0.0.1", b.HostPort))
	_, err = c.Write([]byte("x\n"))
	assert.NilError(t, err)

	// 127.0.0.2 is a local address too, but not the bound one.
	_, err = net.DialTimeout("tcp", hostPort("127.0.0.2", b.HostPort), time.Second)
	assert.Check(t, err != nil, "connected to 127.0.0.2")
	if ipv6Loopback() {
		_, err = net.DialTimeout("tcp", hostPort("::1", b.HostPort), time.Second)
		assert.Check(t, err != nil, "connected to ::1")
	}
	// The rest of the port space stays free: another address can bind it.
	ln, err := net.Listen("tcp4", hostPort("127.0.0.2", b.HostPort))
	assert.NilError(t, err)
	ln.Close()
}

func TestInvalidBindings(t *testing.T) {
	t.Parallel()
	m := New()
	defer m.Close()
	ip := netip.MustParseAddr("172.17.0.2")
	tests := []struct {
		name string
		b    Binding
		is   func(error) bool
	}{
		{name: "bad proto", b: Binding{Proto: "icmp", ContainerIP: ip, ContainerPort: 80}, is: errdefs.IsInvalidArgument},
		{name: "empty proto", b: Binding{ContainerIP: ip, ContainerPort: 80}, is: errdefs.IsInvalidArgument},
		{name: "sctp", b: Binding{Proto: "sctp", ContainerIP: ip, ContainerPort: 80}, is: errdefs.IsNotImplemented},
		{name: "no container ip", b: Binding{Proto: "tcp", ContainerPort: 80}, is: errdefs.IsInvalidArgument},
		{name: "no container port", b: Binding{Proto: "tcp", ContainerIP: ip}, is: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Add(tc.b)
			assert.Check(t, tc.is(err), "got %v", err)
		})
	}
	err := m.Remove(Binding{Proto: "tcp", HostPort: 1, ContainerIP: ip, ContainerPort: 80})
	assert.Check(t, errdefs.IsNotFound(err), "got %v", err)

	m.Close()
	_, err = m.Add(Binding{Proto: "tcp", HostIP: loopback4, ContainerIP: ip, ContainerPort: 80})
	assert.Check(t, errdefs.IsUnavailable(err), "got %v", err)
}

func TestCloseStopsEverything(t *testing.T) {
	tcpBackend, udpBackend := echoTCP(t), echoUDP(t)
	m := New()
	tb, err := m.Add(tcpBinding(tcpBackend))
	assert.NilError(t, err)
	ub, err := m.Add(Binding{Proto: "udp", ContainerIP: udpBackend.Addr(), ContainerPort: udpBackend.Port()})
	assert.NilError(t, err)

	c := dialTCP(t, hostPort("127.0.0.1", tb.HostPort))
	_, err = c.Write([]byte("x\n"))
	assert.NilError(t, err)
	_, err = bufio.NewReader(c).ReadString('\n')
	assert.NilError(t, err)
	u := dialUDP(t, hostPort("127.0.0.1", ub.HostPort))
	assert.Equal(t, udpExchange(t, u, "x"), "echo:x")

	m.Close()
	assertNoProxyGoroutines(t, m)
	_, err = c.Read(make([]byte, 1))
	assert.Check(t, err != nil)
	// Both ports are free again.
	assert.Check(t, tryBind("tcp", hostPort("", tb.HostPort)))
	assert.Check(t, tryBind("udp", hostPort("", ub.HostPort)))
}
