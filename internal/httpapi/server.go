package httpapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// ServerLimits bound what HTTP clients can hold of a server: time per request, header size, and
// connections per client address and in total. DefaultServerLimits holds every default.
type ServerLimits struct {
	ReadHeaderTimeout time.Duration // to read a request's headers
	// ReadTimeout bounds reading a whole request, body included; routes that take large uploads
	// extend it while the body keeps arriving at MinRate (SlowBody).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration // from the end of the headers to the end of the response
	IdleTimeout  time.Duration // a kept-alive connection waiting for its next request
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// PerAddr is the number of connections one client address may hold (IPv6: one /64); beyond it a
	// new connection is closed at once and counted. Exempt peers (trusted reverse proxies, which
	// speak for many clients) are not capped per address.
	PerAddr int
	Exempt  []netip.Prefix
	// MaxConns caps all connections; it is lowered at start to leave FDReserve file descriptors of
	// the process limit free (for the broker, the databases, the spool). Peers in Reserved (the host
	// itself: health checks, ioc's own tools) get ReservedConns more beyond it.
	MaxConns      int
	FDReserve     int
	Reserved      []netip.Prefix
	ReservedConns int
}

// DefaultServerLimits returns the limits of ioc's HTTP server.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		PerAddr: 64, MaxConns: 8192, FDReserve: 1024,
		Reserved:      []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
		ReservedConns: 32,
	}
}

// NewServer returns an http.Server for h with lim's timeouts and header limit; log receives the
// server's own errors (TLS handshakes, panics) at warning level. Serve it on LimitListener.
func NewServer(h http.Handler, lim ServerLimits, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// UploadRate is how slowly a large upload may arrive: after Grace, at least Min bytes a second on
// average. The response then has Write to be written.
type UploadRate struct {
	Min   int64         // bytes per second
	Grace time.Duration // before the rate counts (a slow start, a phone waking its radio)
	Write time.Duration // to write the response once the body is read
}

// SlowBody lets r's body take longer than the server's ReadTimeout as long as it arrives at
// rate.Min: each read moves the connection's read deadline to the time by which the next 16 KiB
// must have come (start + Grace + bytes/Min), and the write deadline Write past it. A client that
// falls below the rate has its connection cut (the read fails with a timeout). Call it before the
// body is read; on a connection without deadlines (a test recorder) it changes nothing.
func SlowBody(w http.ResponseWriter, r *http.Request, rate UploadRate) {
	rc := http.NewResponseController(w)
	b := &rateBody{ReadCloser: r.Body, rc: rc, rate: rate, start: time.Now()}
	if err := b.extend(); err != nil {
		return // no deadlines to move: the server's own apply
	}
	r.Body = b
}

type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	rate  UploadRate
	start time.Time
	n     int64
}

func (b *rateBody) extend() error {
	due := b.start.Add(b.rate.Grace + time.Duration(float64(b.n+16<<10)/float64(b.rate.Min)*float64(time.Second)))
	if err := b.rc.SetReadDeadline(due); err != nil {
		return fmt.Errorf("extend read deadline: %w", err)
	}
	if err := b.rc.SetWriteDeadline(due.Add(b.rate.Write)); err != nil {
		return fmt.Errorf("extend write deadline: %w", err)
	}
	return nil
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if n > 0 && err == nil {
		if xerr := b.extend(); xerr != nil && !errors.Is(xerr, http.ErrNotSupported) {
			return n, xerr
		}
	}
	return n, err
}
