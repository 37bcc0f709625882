package httpapi

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// AddrKey is the key per-address limits count a client under: an IPv4 address as is, an IPv6
// address by its /64 (one subscriber's prefix: a host picks any address in it at will). An IPv4-mapped
// IPv6 address counts as its IPv4 address. Anything unparsable is its own key.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // never fails for an IPv6 address
	return p.String()
}

// ConnMetrics count what LimitListener admits and refuses.
type ConnMetrics struct {
	open    prometheus.Gauge
	refused *prometheus.CounterVec
}

// NewConnMetrics registers the listener's metrics with reg (nil: unregistered).
func NewConnMetrics(reg prometheus.Registerer) (*ConnMetrics, error) {
	m := &ConnMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ioc_http_connections_open", Help: "HTTP connections open now (websockets included).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_http_connections_refused_total", Help: "HTTP connections closed at accept, by reason (per_address: the client address, IPv6 per /64, holds its limit; total: the server holds its limit).",
		}, []string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.refused} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// LimitListener wraps ln so that no client address (AddrKey) holds more than lim.PerAddr
// connections and the server no more than total (ReservedConns more for lim.Reserved peers). A
// connection over a limit is closed as soon as it is accepted, so it costs a file descriptor for
// microseconds; Accept then goes on with the next one. Closing an admitted connection frees its
// place, also after a websocket hijacked it.
// m nil counts into unregistered metrics.
func LimitListener(ln net.Listener, lim ServerLimits, total int, m *ConnMetrics) net.Listener {
	if m == nil {
		m, _ = NewConnMetrics(nil) // without a registerer nothing can fail
	}
	return &limitListener{Listener: ln, lim: lim, total: total, m: m, per: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim   ServerLimits
	total int
	m     *ConnMetrics

	mu  sync.Mutex // guards per and n
	per map[string]int
	n   int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		key, reason := l.admit(addr)
		if reason != "" {
			l.m.refused.WithLabelValues(reason).Inc()
			c.Close()
			continue
		}
		l.m.open.Inc()
		return &limitConn{Conn: c, release: func() { l.done(key) }}, nil
	}
}

func peerAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// admit takes a place for a connection from addr, or says which limit refuses it.
func (l *limitListener) admit(addr netip.Addr) (key, reason string) {
	key = AddrKey(addr.String())
	if inAny(l.lim.Exempt, addr) {
		key = "" // not counted per address
	}
	total := l.total
	if inAny(l.lim.Reserved, addr) {
		total += l.lim.ReservedConns
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= total {
		return "", "total"
	}
	if key != "" && l.per[key] >= l.lim.PerAddr {
		return "", "per_address"
	}
	l.n++
	if key != "" {
		l.per[key]++
	}
	return key, ""
}

func (l *limitListener) done(key string) {
	l.m.open.Dec()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if key == "" {
		return
	}
	if l.per[key]--; l.per[key] <= 0 {
		delete(l.per, key)
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	if errors.Is(err, net.ErrClosed) {
		return nil // closed twice (the server and a hijacker both do): the first close counted
	}
	return err
}

// TotalConns is lim.MaxConns lowered so that lim.FDReserve file descriptors of the process limit
// (at most a quarter of a small limit) and the reserved connections stay free for everything else
// ioc opens.
func TotalConns(lim ServerLimits) int { return totalConns(lim, fdLimit()) }

func totalConns(lim ServerLimits, fds int) int {
	n := lim.MaxConns
	if fds > 0 {
		n = min(n, fds-min(lim.FDReserve, fds/4)-lim.ReservedConns)
	}
	return max(n, 1)
}
