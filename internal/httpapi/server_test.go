package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"github.com/ioc-vn/ioc/internal/waittest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testServer serves h with lim on a loopback port through LimitListener; clients pick their source
// address among 127.0.0.x to look like different hosts.
type testServer struct {
	addr string
	m    *ConnMetrics
}

func startServer(t *testing.T, lim ServerLimits, h http.Handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewConnMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, lim, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(LimitListener(ln, lim, lim.MaxConns, m)) // ErrServerClosed at the end
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return &testServer{addr: ln.Addr().String(), m: m}
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clientFrom is an HTTP client whose connections come from src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func (s *testServer) get(t *testing.T, src, path string) int {
	t.Helper()
	res, err := clientFrom(src).Get("http://" + s.addr + path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, src, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

func (s *testServer) open() float64 { return testutil.ToFloat64(s.m.open) }
func (s *testServer) refused(reason string) float64 {
	return testutil.ToFloat64(s.m.refused.WithLabelValues(reason))
}

// eventually polls cond until it holds, failing after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waittest.For(t, 20*time.Second, what, cond)
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func heapBytes() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func testLimits() ServerLimits {
	lim := DefaultServerLimits()
	lim.ReadHeaderTimeout, lim.ReadTimeout, lim.WriteTimeout = time.Second, 300*time.Millisecond, 300*time.Millisecond
	lim.PerAddr, lim.MaxConns = 20, 1000
	return lim
}

func testHandler(bigServed *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return // the deadline cut the body off
		}
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		b := make([]byte, 8<<20) // a large rendered list, held until written
		bigServed.Add(1)
		_, _ = w.Write(b)
	})
	return mux
}

// TestSlowBodiesFromOneAddress opens 60 connections from one address that send headers and ten
// bytes of a 1 MB body, then stall. Twenty are admitted (per-address cap), forty closed at accept
// and counted; the twenty are cut at the read timeout; meanwhile another address is served.
func TestSlowBodiesFromOneAddress(t *testing.T) {
	var big atomic.Int64
	s := startServer(t, testLimits(), testHandler(&big))
	base := openFDs(t)
	for range 60 {
		c := dialFrom(t, "127.0.0.2", s.addr)
		if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: ioc\r\nContent-Length: 1000000\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "40 refusals per address", func() bool { return s.refused("per_address") == 40 })
	if n := s.open(); n > 20 {
		t.Fatalf("%v connections from one address held, want at most 20", n)
	}
	if got := s.get(t, "127.0.0.3", "/healthz"); got != http.StatusOK {
		t.Fatalf("healthz from another address: %d", got)
	}
	// 60 client ends, at most 20 server ends, a few for the good request and the runtime.
	if fds := openFDs(t) - base; fds > 60+20+8 {
		t.Fatalf("%d more open files, want at most %d", fds, 60+20+8)
	}
	eventually(t, "the read timeout to cut the stalled bodies", func() bool { return s.open() == 0 })
}

// TestNeverReadingClients asks for an 8 MB response on 30 connections from one address and never
// reads it: 20 are served (10 refused at accept), each handler's buffer is let go at the write
// timeout, and another address is served meanwhile.
func TestNeverReadingClients(t *testing.T) {
	var big atomic.Int64
	s := startServer(t, testLimits(), testHandler(&big))
	runtime.GC()
	base := heapBytes()
	for range 30 {
		c := dialFrom(t, "127.0.0.4", s.addr)
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: ioc\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every connection served or refused", func() bool { return float64(big.Load())+s.refused("per_address") == 30 })
	if n := s.refused("per_address"); n < 10 {
		t.Fatalf("%v refused at accept, want at least 10", n)
	}
	if got := s.get(t, "127.0.0.5", "/healthz"); got != http.StatusOK {
		t.Fatalf("healthz from another address: %d", got)
	}
	eventually(t, "the write timeout to end the stuck responses", func() bool { return s.open() == 0 })
	runtime.GC()
	if grown := heapBytes() - base; grown > 16<<20 {
		t.Fatalf("heap still %d MiB above the start after the write timeout", grown>>20)
	}
}

// TestTotalCapLeavesRoomForTheHost fills the total cap from two addresses: a third address is
// refused at accept (counted as total), the host itself (127.0.0.1, a health check) still gets in.
func TestTotalCapLeavesRoomForTheHost(t *testing.T) {
	lim := testLimits()
	lim.ReadHeaderTimeout, lim.PerAddr, lim.MaxConns, lim.ReservedConns = time.Minute, 5, 10, 2
	var big atomic.Int64
	s := startServer(t, lim, testHandler(&big))
	for _, src := range []string{"127.0.0.6", "127.0.0.7"} {
		for range 5 {
			dialFrom(t, src, s.addr)
		}
	}
	eventually(t, "ten connections admitted", func() bool { return s.open() == 10 })
	c := dialFrom(t, "127.0.0.8", s.addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Fatal("a connection over the total cap was kept open")
	}
	if n := s.refused("total"); n != 1 {
		t.Fatalf("total refusals %v, want 1", n)
	}
	if got := s.get(t, "127.0.0.1", "/healthz"); got != http.StatusOK {
		t.Fatalf("healthz from the host: %d", got)
	}
}

// TestSlowBodyKeepsAMinimumRate sends an upload that takes longer than the read timeout at more
// than the minimum rate (served), and one below the rate (cut off).
func TestSlowBodyKeepsAMinimumRate(t *testing.T) {
	lim := testLimits()
	lim.ReadTimeout = 200 * time.Millisecond
	cut := make(chan error, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		SlowBody(w, r, UploadRate{Min: 20_000, Grace: 100 * time.Millisecond, Write: time.Second})
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			cut <- err
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	s := startServer(t, lim, mux)
	send := func(chunk, chunks int) (string, error) {
		pr, pw := io.Pipe()
		go func() {
			tick := time.NewTicker(100 * time.Millisecond) // the client's pace is what is tested
			defer tick.Stop()
			for range chunks {
				<-tick.C
				if _, err := pw.Write(make([]byte, chunk)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+s.addr+"/upload", pr)
		req.ContentLength = int64(chunks * chunk)
		res, err := clientFrom("127.0.0.9").Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	// 8 × 5,000 bytes over 0.8 s: 50 kB/s, four times the read timeout.
	if got, err := send(5000, 8); err != nil || got != "40000" {
		t.Fatalf("fast enough upload: %q %v", got, err)
	}
	// 40 × 500 bytes: 5 kB/s for 4 s, below the 20 kB/s minimum.
	_, _ = send(500, 40)
	select {
	case err := <-cut:
		if !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("slow upload ended with %v, want a timeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("an upload below the minimum rate was not cut")
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ name, ip, want string }{
		{"ipv4", "203.113.5.7", "203.113.5.7"},
		{"ipv6 by /64", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"same /64", "2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"},
		{"other /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"ipv4-mapped", "::ffff:203.113.5.7", "203.113.5.7"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"not an address", "proxy", "proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AddrKey(tc.ip); got != tc.want {
				t.Fatalf("AddrKey(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

// TestPerAddressCapCountsIPv6By64 admits connections from addresses of one IPv6 /64 up to the
// per-address cap (a host picks any address in its /64), while another /64 and an exempt proxy are
// admitted.
func TestPerAddressCapCountsIPv6By64(t *testing.T) {
	lim := testLimits()
	lim.PerAddr, lim.Exempt = 3, []netip.Prefix{netip.MustParsePrefix("2001:db8:ffff::/48")}
	l := LimitListener(nil, lim, 100, nil).(*limitListener)
	for i, tc := range []struct {
		addr, reason string
	}{
		{"2001:db8:1:2::1", ""}, {"2001:db8:1:2::2", ""}, {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", ""},
		{"2001:db8:1:2::4", "per_address"},
		{"2001:db8:1:3::1", ""},
		{"2001:db8:ffff::1", ""}, {"2001:db8:ffff::1", ""}, {"2001:db8:ffff::1", ""}, {"2001:db8:ffff::1", ""},
	} {
		if _, reason := l.admit(netip.MustParseAddr(tc.addr)); reason != tc.reason {
			t.Errorf("connection %d from %s: refused %q, want %q", i, tc.addr, reason, tc.reason)
		}
	}
}

func TestTotalConnsLeavesFileDescriptors(t *testing.T) {
	lim := DefaultServerLimits()
	for _, tc := range []struct {
		name      string
		fds, want int
	}{
		{"large limit: the configured cap", 1 << 20, 8192},
		{"64k limit", 65536, 8192},
		{"8k limit: 1,024 kept free", 8192, 8192 - 1024 - 32},
		{"1k limit: a quarter kept free", 1024, 1024 - 256 - 32},
		{"unknown limit", 0, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := totalConns(lim, tc.fds); got != tc.want {
				t.Fatalf("totalConns(%d) = %d, want %d", tc.fds, got, tc.want)
			}
		})
	}
}
