package auth

import (
	"net/http/httptest"
	"testing"
)

// X-Forwarded-For and X-Real-IP count only from a trusted proxy; the client is the right-most
// address of the chain that is not a trusted proxy.
func TestClientAddressThroughTrustedProxies(t *testing.T) {
	ps, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.10", "2001:db8:1::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		realIP     string
		want       string
	}{
		{"no proxy, no header", "203.0.113.7:5000", nil, "", "203.0.113.7"},
		{"untrusted peer: forwarded-for is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "", "203.0.113.7"},
		{"untrusted peer: real-ip is ignored", "203.0.113.7:5000", nil, "198.51.100.1", "203.0.113.7"},
		{"trusted proxy", "10.0.0.5:443", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"trusted single address", "192.0.2.10:443", []string{"198.51.100.1"}, "", "198.51.100.1"},
		{"spoofed left entries are skipped", "10.0.0.5:443", []string{"1.2.3.4, 198.51.100.1"}, "", "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.5:443", []string{"198.51.100.1, 10.9.9.9", "10.1.1.1"}, "", "198.51.100.1"},
		{"every hop trusted: the left-most", "10.0.0.5:443", []string{"10.2.2.2, 10.3.3.3"}, "", "10.2.2.2"},
		{"garbage ends the walk", "10.0.0.5:443", []string{"198.51.100.1, nonsense, 10.3.3.3"}, "", "10.3.3.3"},
		{"entry with a port", "10.0.0.5:443", []string{"198.51.100.1:6000"}, "", "198.51.100.1"},
		{"real-ip from a trusted proxy", "10.0.0.5:443", nil, "198.51.100.1", "198.51.100.1"},
		{"forwarded-for wins over real-ip", "10.0.0.5:443", []string{"198.51.100.2"}, "198.51.100.1", "198.51.100.2"},
		{"trusted proxy, no header", "10.0.0.5:443", nil, "", "10.0.0.5"},
		{"IPv6 proxy", "[2001:db8:1::9]:443", []string{"2001:db8:2::7"}, "", "2001:db8:2::7"},
		{"IPv4-mapped peer", "[::ffff:10.0.0.5]:443", []string{"198.51.100.1"}, "", "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.realIP != "" {
				r.Header.Set("X-Real-IP", tc.realIP)
			}
			if got := proxies(ps).clientOf(r); got != tc.want {
				t.Errorf("client %q, want %q", got, tc.want)
			}
		})
	}
}
