package dnsserver

import (
	"context"
	"net"
	"time"

	"github.com/containerd/log"
	"github.com/miekg/dns"
)

// forward sends q unchanged to the upstreams in order and returns the first
// answer that is neither SERVFAIL nor REFUSED (as dockerd), or nil when
// none gave one. A query that came over TCP is forwarded over TCP; one that
// came over UDP is forwarded over UDP and, when the upstream truncates its
// answer, asked again over TCP (the caller truncates to the client's size,
// so a client that cannot take it all retries over TCP itself).
func (s *Server) forward(q *dns.Msg, tcp bool) *dns.Msg {
	ctx := s.ctx
	select {
	case s.fwdSlots <- struct{}{}:
		defer func() { <-s.fwdSlots }()
	case <-time.After(forwardTimeout):
		log.G(ctx).Warnf("dnsserver: more than %d queries in flight, refusing", maxForwards)
		resp := new(dns.Msg).SetRcode(q, dns.RcodeRefused)
		resp.RecursionAvailable = true
		return resp
	case <-ctx.Done():
		return nil
	}

	for _, up := range *s.upstreams.Load() {
		if ctx.Err() != nil {
			return nil
		}
		resp, err := s.exchange(ctx, q, up, tcp)
		if err == nil && resp.Truncated && !tcp {
			if full, terr := s.exchange(ctx, q, up, true); terr == nil {
				resp = full
			}
		}
		if err != nil {
			log.G(ctx).WithError(err).WithField("upstream", up).WithField("question", q.Question[0].String()).
				Debug("dnsserver: upstream failed")
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			continue
		}
		return resp
	}
	return nil
}

// exchange asks one upstream, from the daemon's namespace, within
// forwardTimeout; Close aborts it by closing the connection.
func (s *Server) exchange(ctx context.Context, q *dns.Msg, upstream string, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	network := "udp"
	if tcp {
		network = "tcp"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, upstream)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		if stop() {
			conn.Close()
		}
	}()
	c := dns.Client{
		Net:     network,
		Timeout: forwardTimeout,
		// Take oversized UDP answers from upstreams that ignore the
		// client's size (no EDNS0 in q) rather than failing on them; the
		// answer is truncated to the client's size on the way back.
		UDPSize: dns.MaxMsgSize,
	}
	resp, _, err := c.ExchangeWithConnContext(ctx, q, &dns.Conn{Conn: conn})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
