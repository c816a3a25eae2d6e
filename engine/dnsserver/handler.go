package dnsserver

import (
	"context"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containerd/log"
	"github.com/miekg/dns"
)

// respTTL is the TTL of local answers, as dockerd's.
const respTTL = 600

// serveDNS answers one query: from the Resolver when it knows the name,
// from the upstreams otherwise.
func (s *Server) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	if q.Opcode != dns.OpcodeQuery {
		s.write(w, q, new(dns.Msg).SetRcode(q, dns.RcodeNotImplemented))
		return
	}
	if len(q.Question) != 1 {
		s.write(w, q, new(dns.Msg).SetRcodeFormatError(q))
		return
	}
	tcp := w.LocalAddr().Network() == "tcp"
	resp := s.answerLocal(q)
	if resp == nil {
		resp = s.forward(q, tcp)
	}
	if resp == nil {
		resp = new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
		resp.RecursionAvailable = true
	}
	if !tcp {
		resp.Truncate(clientUDPSize(q))
	}
	s.write(w, q, resp)
}

func (s *Server) write(w dns.ResponseWriter, q, resp *dns.Msg) {
	if err := w.WriteMsg(resp); err != nil {
		log.G(context.TODO()).WithError(err).WithField("question", q.Question).
			Debug("dnsserver: failed to write response")
	}
}

// clientUDPSize is the largest UDP response the client accepts.
func clientUDPSize(q *dns.Msg) int {
	if opt := q.IsEdns0(); opt != nil && int(opt.UDPSize()) > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

// answerLocal answers q from the Resolver, or returns nil when the name is
// not a local one and q must be forwarded.
func (s *Server) answerLocal(q *dns.Msg) *dns.Msg {
	question := q.Question[0]
	if question.Qclass != dns.ClassINET && question.Qclass != dns.ClassANY {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(question.Name, "."))
	if question.Qtype == dns.TypePTR {
		return s.answerPTR(q, name)
	}
	addrs := s.resolver.Lookup(name)
	if len(addrs) == 0 {
		return nil
	}
	resp := reply(q)
	switch question.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range s.rotate(addrs, question.Qtype == dns.TypeA) {
			resp.Answer = append(resp.Answer, addrRR(question.Name, a))
		}
	default:
		// The name exists, with no record of this type: NOERROR and no
		// answer. dockerd does this for AAAA without IPv6 addresses and
		// for MX, and forwards other types; answering them here too keeps
		// container names from leaking to the host's resolvers and
		// spares an internal network an upstream timeout.
	}
	return resp
}

// rotate returns the addresses of one family, rotated by one position per
// answer so that clients taking the first address spread over them.
func (s *Server) rotate(addrs []netip.Addr, v4 bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.Unmap().Is4() == v4 {
			out = append(out, a.Unmap())
		}
	}
	if len(out) > 1 {
		k := int(s.rotation.Add(1) % uint32(len(out)))
		out = append(out[k:], out[:k]...)
	}
	return out
}

func addrRR(name string, a netip.Addr) dns.RR {
	if a.Is4() {
		return &dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: respTTL},
			A:   a.AsSlice(),
		}
	}
	return &dns.AAAA{
		Hdr:  dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: respTTL},
		AAAA: a.AsSlice(),
	}
}

// answerPTR answers a reverse query for a container address, or returns
// nil (forward) for other addresses and malformed names, as dockerd does.
func (s *Server) answerPTR(q *dns.Msg, name string) *dns.Msg {
	ip, ok := parsePTR(name)
	if !ok {
		return nil
	}
	host := s.resolver.Reverse(ip)
	if host == "" {
		return nil
	}
	resp := reply(q)
	resp.Answer = append(resp.Answer, &dns.PTR{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: respTTL},
		Ptr: dns.Fqdn(host),
	})
	return resp
}

// parsePTR turns "4.3.2.1.in-addr.arpa" into 1.2.3.4 and the 32 nibbles of
// an ip6.arpa name into the IPv6 address.
func parsePTR(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			n, err := strconv.ParseUint(l, 16, 4)
			if err != nil || len(l) != 1 {
				return netip.Addr{}, false
			}
			pos := 31 - i // nibble index from the most significant one
			if pos%2 == 0 {
				b[pos/2] |= byte(n) << 4
			} else {
				b[pos/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// reply is an empty NOERROR response to q; it echoes EDNS0 when q has it.
func reply(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(q)
	resp.RecursionAvailable = true
	if opt := q.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	return resp
}
