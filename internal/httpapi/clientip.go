package httpapi

import (
	"context"
	"net"
	"net/http"
)

type clientIPKey struct{}

// WithClientIP returns ctx carrying the address of the client a request comes from, as resolved by
// the access layer (the TCP peer, or the client a trusted reverse proxy forwarded).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIP is the client address of r: the one the access layer resolved, else the TCP peer's.
// Rate limits, login backoff, the audit log and the citizen report limits all key on it.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
