package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseProxy reads one trusted reverse proxy: a CIDR prefix ("10.0.0.0/8") or an address
// ("192.0.2.10").
func ParseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8) or an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseProxies reads a list of trusted reverse proxies (ParseProxy); the error names the bad entry.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := ParseProxy(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// proxies are the trusted reverse proxies: only their X-Forwarded-For and X-Real-IP are believed.
type proxies []netip.Prefix

func (ps proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientOf resolves the client address of r. A request from an untrusted peer is that peer, whatever
// headers it sends. From a trusted proxy it is the right-most address of X-Forwarded-For that is not
// itself a trusted proxy (every proxy appends the address it got the request from, so the entries
// left of the first untrusted one may be forged by the client); when every entry is trusted, the
// left-most; an unparsable entry ends the walk. Without X-Forwarded-For, X-Real-IP is used.
func (ps proxies) clientOf(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !ps.trusted(addr) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		client := addr
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				break
			}
			client = a
			if !ps.trusted(a) {
				break
			}
		}
		return client.String()
	}
	if a, ok := parseHop(r.Header.Get("X-Real-IP")); ok {
		return a.String()
	}
	return peer
}

// parseHop reads one forwarded address: "203.0.113.7", "2001:db8::1", or with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
