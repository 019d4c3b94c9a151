package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// prefixes ("10.0.0.0/8, 192.0.2.7, ::1") as Security.TrustedProxies; an
// empty list trusts no proxy.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientAddress is the one address the server names a client by: in the
// per-client limit when it is unauthenticated, in the audit record's
// agent.network and in the request log. It is the connection's peer,
// unless that peer is a trusted proxy: then it is the right-most address
// of the forwarding header that is not itself a trusted proxy (each proxy
// appends the address it received from, so everything left of the first
// untrusted hop may have been written by the client). From any other peer
// the forwarding headers are ignored, since a client can send them.
//
// X-Forwarded-For is read when the request has one, else Forwarded
// (RFC 7239 for=): the de facto header wins, so that a client behind a
// proxy that appends X-Forwarded-For cannot choose its address with a
// Forwarded header the proxy passes on. A hop that is not an IP address
// ("unknown", an obfuscated identifier) ends the walk at the last trusted
// hop.
func (sec Security) clientAddress(r *http.Request) string {
	peer := remoteHost(r)
	if len(sec.TrustedProxies) == 0 {
		return peer
	}
	addr, ok := parseHop(peer)
	if !ok || !sec.trusted(addr) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = a
		if !sec.trusted(a) {
			break
		}
	}
	return addr.String()
}

func (sec Security) trusted(a netip.Addr) bool {
	for _, p := range sec.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hops of X-Forwarded-For, or else of Forwarded's
// for= parameters, left (the first client) to right (the last proxy), over
// every line of the header.
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			for _, hop := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					hops = append(hops, strings.Trim(strings.TrimSpace(v), `"`))
				}
			}
		}
	}
	return hops
}

// parseHop reads one hop: an address, with or without a port, IPv6 in
// brackets or not ("192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// remoteHost is the connection's peer address without its port.
func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
