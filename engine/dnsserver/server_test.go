package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/miekg/dns"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/poll"
)

// fakeResolver is a fixed table of names, as the lead's endpoint table
// would give for one container.
type fakeResolver struct {
	names map[string][]netip.Addr
	ptr   map[netip.Addr]string
}

func (f fakeResolver) Lookup(name string) []netip.Addr { return f.names[name] }
func (f fakeResolver) Reverse(ip netip.Addr) string    { return f.ptr[ip] }

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var table = fakeResolver{
	names: map[string][]netip.Addr{
		"web":       addrs("172.30.0.2", "172.30.0.3", "172.30.0.4", "fd00:30::2"),
		"web.mynet": addrs("172.30.0.2", "172.30.0.3", "172.30.0.4", "fd00:30::2"),
		"db":        addrs("172.30.0.5"),
	},
	ptr: map[netip.Addr]string{
		netip.MustParseAddr("172.30.0.5"): "db.mynet",
		netip.MustParseAddr("fd00:30::2"): "web.mynet",
	},
}

// upstream is a fake host resolver on 127.0.0.1, UDP and TCP on one port.
type upstream struct {
	addr      string
	udpCount  atomic.Int32
	tcpCount  atomic.Int32
	questions sync.Map // question name -> struct{}
	servers   []*dns.Server
}

// bigAnswer is how many A records "big.example." has: more than 512 bytes.
const bigAnswer = 60

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 { // the UDP port may be taken for TCP
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		assert.NilError(t, err)
		ln, err = net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	assert.NilError(t, err)
	u.addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(u.serve(false))},
		{Listener: ln, Handler: dns.HandlerFunc(u.serve(true))},
	} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		u.servers = append(u.servers, srv)
		go func() { _ = srv.ActivateAndServe() }()
	}
	<-started
	<-started
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) stop() {
	for _, s := range u.servers {
		_ = s.Shutdown()
	}
	u.servers = nil
}

func (u *upstream) serve(tcp bool) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		if tcp {
			u.tcpCount.Add(1)
		} else {
			u.udpCount.Add(1)
		}
		name := q.Question[0].Name
		u.questions.Store(name, struct{}{})
		resp := new(dns.Msg).SetReply(q)
		switch name {
		case "example.com.":
			resp.Answer = append(resp.Answer, mustRR("example.com. 60 IN A 192.0.2.10"))
		case "big.example.":
			for i := range bigAnswer {
				resp.Answer = append(resp.Answer, mustRR(fmt.Sprintf("big.example. 60 IN A 198.51.100.%d", i+1)))
			}
		case "broken.example.":
			resp.Rcode = dns.RcodeServerFailure
		default:
			resp.Rcode = dns.RcodeNameError
		}
		if !tcp {
			resp.Truncate(dns.MinMsgSize) // a server with a 512-byte limit
		}
		_ = w.WriteMsg(resp)
	}
}

func (u *upstream) asked(name string) bool {
	_, ok := u.questions.Load(name)
	return ok
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// deadUpstream is an address where nothing listens: queries fail at once
// (ICMP port unreachable, connection refused).
func deadUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	assert.NilError(t, err)
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// silentUpstream reads queries and never answers.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	assert.NilError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// startServer starts a Server in a new namespace, closed at cleanup, after
// which no goroutine of it may be left.
func startServer(t *testing.T, upstreams ...string) (*Server, string) {
	t.Helper()
	ns := newNetns(t, true)
	s, err := Start(ns, table, upstreams)
	assert.NilError(t, err)
	t.Cleanup(func() {
		s.Close()
		assertNoServerGoroutines(t)
	})
	return s, ns
}

// query sends q to 127.0.0.11:53 from inside the namespace.
func query(t *testing.T, ns, network string, q *dns.Msg) *dns.Msg {
	t.Helper()
	conn, err := dialInNetns(t, ns, network)
	assert.NilError(t, err)
	defer conn.Close()
	c := dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.ExchangeWithConn(q, &dns.Conn{Conn: conn})
	assert.NilError(t, err)
	return resp
}

func question(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// assertNoServerGoroutines fails when a goroutine started by the package
// (not by its tests) is still running.
func assertNoServerGoroutines(t *testing.T) {
	t.Helper()
	poll.WaitOn(t, func(poll.LogT) poll.Result {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "engine/dnsserver.") && !strings.Contains(g, "_test.go") {
				left = append(left, g)
			}
		}
		if len(left) > 0 {
			return poll.Continue("goroutines left:\n%s", strings.Join(left, "\n\n"))
		}
		return poll.Success()
	}, poll.WithTimeout(5*time.Second), poll.WithDelay(20*time.Millisecond))
}

func TestLocalNames(t *testing.T) {
	up := startUpstream(t)
	_, ns := startServer(t, up.addr)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  []string
	}{
		{name: "A, all addresses", qname: "web.", qtype: dns.TypeA, want: []string{"172.30.0.2", "172.30.0.3", "172.30.0.4"}},
		{name: "AAAA", qname: "web.", qtype: dns.TypeAAAA, want: []string{"fd00:30::2"}},
		{name: "case-insensitive", qname: "WeB.", qtype: dns.TypeA, want: []string{"172.30.0.2", "172.30.0.3", "172.30.0.4"}},
		{name: "name.network", qname: "web.mynet.", qtype: dns.TypeA, want: []string{"172.30.0.2", "172.30.0.3", "172.30.0.4"}},
		{name: "single address", qname: "db.", qtype: dns.TypeA, want: []string{"172.30.0.5"}},
		{name: "AAAA of an IPv4-only name is NODATA", qname: "db.", qtype: dns.TypeAAAA},
		{name: "MX of a local name is NODATA", qname: "db.", qtype: dns.TypeMX},
		{name: "PTR IPv4", qname: "5.0.30.172.in-addr.arpa.", qtype: dns.TypePTR, want: []string{"db.mynet."}},
		{name: "PTR IPv6", qname: mustReverse("fd00:30::2"), qtype: dns.TypePTR, want: []string{"web.mynet."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				resp := query(t, ns, network, question(tc.qname, tc.qtype))
				assert.Check(t, is.Equal(resp.Rcode, dns.RcodeSuccess), network)
				assert.Check(t, resp.RecursionAvailable)
				assert.Check(t, is.DeepEqual(sorted(answers(resp)), sorted(tc.want)), network)
				for _, rr := range resp.Answer {
					assert.Check(t, is.Equal(rr.Header().Name, tc.qname), "answer names the question as asked")
				}
			}
		})
	}
	assert.Check(t, is.Equal(up.udpCount.Load()+up.tcpCount.Load(), int32(0)), "local names were forwarded")
}

func mustReverse(ip string) string {
	r, err := dns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return r
}

func TestRoundRobin(t *testing.T) {
	_, ns := startServer(t)
	firsts := map[string]bool{}
	for range 3 {
		resp := query(t, ns, "udp", question("web.", dns.TypeA))
		assert.Assert(t, is.Len(resp.Answer, 3))
		firsts[answers(resp)[0]] = true
	}
	assert.Check(t, is.Len(firsts, 3), "first answers over three queries: %v", firsts)
}

func TestForwarding(t *testing.T) {
	up := startUpstream(t)
	_, ns := startServer(t, up.addr)

	t.Run("known upstream name", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			resp := query(t, ns, network, question("example.com.", dns.TypeA))
			assert.Check(t, is.Equal(resp.Rcode, dns.RcodeSuccess))
			assert.Check(t, is.DeepEqual(answers(resp), []string{"192.0.2.10"}))
		}
		assert.Check(t, up.udpCount.Load() >= 1 && up.tcpCount.Load() >= 1, "a TCP query is forwarded over TCP")
	})
	t.Run("NXDOMAIN passes through", func(t *testing.T) {
		resp := query(t, ns, "udp", question("nope.example.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeNameError))
	})
	t.Run("unknown single label goes upstream", func(t *testing.T) {
		resp := query(t, ns, "udp", question("stranger.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeNameError))
		assert.Check(t, up.asked("stranger."))
	})
	t.Run("PTR of an unknown address goes upstream", func(t *testing.T) {
		resp := query(t, ns, "udp", question("9.0.30.172.in-addr.arpa.", dns.TypePTR))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeNameError))
		assert.Check(t, up.asked("9.0.30.172.in-addr.arpa."))
	})
	t.Run("truncated UDP answer is fetched over TCP", func(t *testing.T) {
		tcpBefore := up.tcpCount.Load()
		q := question("big.example.", dns.TypeA)
		q.SetEdns0(4096, false)
		resp := query(t, ns, "udp", q)
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeSuccess))
		assert.Check(t, !resp.Truncated)
		assert.Check(t, is.Len(resp.Answer, bigAnswer))
		assert.Check(t, up.tcpCount.Load() > tcpBefore, "no TCP retry upstream")

		// A client without EDNS0 gets a truncated answer, and all of it
		// over TCP.
		resp = query(t, ns, "udp", question("big.example.", dns.TypeA))
		assert.Check(t, resp.Truncated)
		resp = query(t, ns, "tcp", question("big.example.", dns.TypeA))
		assert.Check(t, is.Len(resp.Answer, bigAnswer))
	})
}

func TestUpstreamFailures(t *testing.T) {
	defer func(d time.Duration) { forwardTimeout = d }(forwardTimeout)
	forwardTimeout = 300 * time.Millisecond
	up := startUpstream(t)

	t.Run("all down is SERVFAIL", func(t *testing.T) {
		_, ns := startServer(t, deadUpstream(t), deadUpstream(t))
		resp := query(t, ns, "udp", question("example.com.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeServerFailure))
		resp = query(t, ns, "tcp", question("example.com.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeServerFailure))
	})
	t.Run("no upstreams is SERVFAIL", func(t *testing.T) {
		_, ns := startServer(t)
		resp := query(t, ns, "udp", question("example.com.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeServerFailure))
	})
	t.Run("next upstream after a timeout", func(t *testing.T) {
		_, ns := startServer(t, silentUpstream(t), up.addr)
		start := time.Now()
		resp := query(t, ns, "udp", question("example.com.", dns.TypeA))
		assert.Check(t, is.DeepEqual(answers(resp), []string{"192.0.2.10"}))
		assert.Check(t, time.Since(start) >= forwardTimeout)
	})
	t.Run("next upstream after SERVFAIL", func(t *testing.T) {
		s, ns := startServer(t, up.addr)
		resp := query(t, ns, "udp", question("broken.example.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeServerFailure))

		second := startUpstream(t)
		assert.NilError(t, s.SetUpstreams([]string{up.addr, second.addr}))
		resp = query(t, ns, "udp", question("broken.example.", dns.TypeA))
		assert.Check(t, is.Equal(resp.Rcode, dns.RcodeServerFailure))
		assert.Check(t, second.asked("broken.example."), "second upstream not tried")
	})
	t.Run("upstream on the host loopback", func(t *testing.T) {
		// 127.0.0.1 of the daemon's namespace, not the container's: the
		// systemd-resolved case.
		_, ns := startServer(t, up.addr)
		resp := query(t, ns, "udp", question("example.com.", dns.TypeA))
		assert.Check(t, is.DeepEqual(answers(resp), []string{"192.0.2.10"}))
	})
}

func TestCloseReleasesEverything(t *testing.T) {
	up := startUpstream(t)
	ns := newNetns(t, true)
	s, err := Start(ns, table, []string{up.addr})
	assert.NilError(t, err)

	// A second server in the same namespace finds the address taken.
	_, err = Start(ns, table, nil)
	assert.Check(t, errors.Is(err, syscall.EADDRINUSE), "got %v", err)

	resp := query(t, ns, "tcp", question("example.com.", dns.TypeA))
	assert.Check(t, is.Len(resp.Answer, 1))
	// The sockets live in that namespace only.
	_, err = dialInNetns(t, newNetns(t, true), "tcp")
	assert.Check(t, errors.Is(err, syscall.ECONNREFUSED), "reached from another namespace: %v", err)
	// A TCP connection left open across Close.
	idle, err := dialInNetns(t, ns, "tcp")
	assert.NilError(t, err)
	defer idle.Close()

	s.Close()
	s.Close() // idempotent
	assertNoServerGoroutines(t)

	// The port is free again: a new server starts there and answers.
	s2, err := Start(ns, table, nil)
	assert.NilError(t, err)
	resp = query(t, ns, "udp", question("db.", dns.TypeA))
	assert.Check(t, is.DeepEqual(answers(resp), []string{"172.30.0.5"}))
	s2.Close()
	assertNoServerGoroutines(t)

	// Nothing listens now.
	_, err = dialInNetns(t, ns, "tcp")
	assert.Check(t, errors.Is(err, syscall.ECONNREFUSED), "got %v", err)
}

func TestCloseAbortsForwardedQueries(t *testing.T) {
	ns := newNetns(t, true)
	s, err := Start(ns, table, []string{silentUpstream(t)})
	assert.NilError(t, err)
	conn, err := dialInNetns(t, ns, "udp")
	assert.NilError(t, err)
	defer conn.Close()
	c := dns.Client{Net: "udp", Timeout: 5 * time.Second}
	go func() { _, _, _ = c.ExchangeWithConn(question("example.com.", dns.TypeA), &dns.Conn{Conn: conn}) }()
	time.Sleep(100 * time.Millisecond) // the query is now waiting on the silent upstream

	start := time.Now()
	s.Close()
	assert.Check(t, time.Since(start) < forwardTimeout, "Close waited %v for the forward", time.Since(start))
	assertNoServerGoroutines(t)
}

func TestStartBringsLoopbackUp(t *testing.T) {
	ns := newNetns(t, false)
	assert.Assert(t, !linkUp(t, ns, "lo"))
	s, err := Start(ns, table, nil)
	assert.NilError(t, err)
	defer s.Close()
	assert.Check(t, linkUp(t, ns, "lo"))
	resp := query(t, ns, "udp", question("db.", dns.TypeA))
	assert.Check(t, is.DeepEqual(answers(resp), []string{"172.30.0.5"}))
}

func TestStartErrors(t *testing.T) {
	_, err := Start(t.TempDir()+"/missing", table, nil)
	assert.Check(t, err != nil)
	_, err = Start(t.TempDir()+"/missing", table, []string{"not-an-ip"})
	assert.Check(t, errdefs.IsInvalidArgument(err), "got %v", err)
	assertNoServerGoroutines(t)
}

func TestParsePTR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // "" = not a PTR name
	}{
		{name: "ipv4", in: "5.0.30.172.in-addr.arpa", want: "172.30.0.5"},
		{name: "ipv6", in: strings.TrimSuffix(mustReverse("fd00:30::2"), "."), want: "fd00:30::2"},
		{name: "ipv4 short", in: "0.30.172.in-addr.arpa"},
		{name: "ipv4 out of range", in: "300.0.30.172.in-addr.arpa"},
		{name: "ipv4 leading zero", in: "05.0.30.172.in-addr.arpa"},
		{name: "ipv6 short", in: "2.0.0.0.ip6.arpa"},
		{name: "ipv6 two-digit label", in: "12" + strings.Repeat(".0", 31) + ".ip6.arpa"},
		{name: "other", in: "example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parsePTR(tc.in)
			if tc.want == "" {
				assert.Check(t, !ok, "parsed as %v", got)
				return
			}
			assert.Check(t, ok)
			assert.Check(t, is.Equal(got, netip.MustParseAddr(tc.want)))
		})
	}
}
