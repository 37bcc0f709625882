// Package mqtttest starts real MQTT brokers for tests: a Mosquitto process on a free loopback port.
// It is imported only by tests.
package mqtttest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Mosquitto is a running mosquitto process.
type Mosquitto struct {
	URL  string // tcp://127.0.0.1:PORT
	Addr string
	bin  string
	cmd  *exec.Cmd
	conf string
	dir  string
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartMosquitto starts mosquitto on a free loopback port with TCP_NODELAY, anonymous access, a large
// queue for offline persistent sessions and the given extra config lines. It fails the test if
// mosquitto is missing (make test installs it) or does not come up. The broker is stopped at cleanup.
func StartMosquitto(t testing.TB, extra ...string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			t.Fatalf("mosquitto not found (make test installs it with apt-get): %v", err)
		}
		bin = "/usr/sbin/mosquitto"
	}
	dir := t.TempDir()
	port := FreePort(t)
	m := &Mosquitto{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, conf: filepath.Join(dir, "mosquitto.conf")}
	m.URL = "tcp://" + m.Addr
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n"+
		"max_queued_messages 1000000\nmax_inflight_messages 1000\n", port)
	for _, l := range extra {
		conf += l + "\n"
	}
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		t.Fatalf("mosquitto config: %v", err)
	}
	m.bin = bin
	m.start(t, bin)
	t.Cleanup(m.Stop)
	return m
}

func (m *Mosquitto) start(t testing.TB, bin string) {
	t.Helper()
	m.cmd = exec.Command(bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = nil, nil
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.Stop()
			t.Fatalf("mosquitto did not listen on %s: %v", m.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID is the mosquitto process id, for benchmarks that account its CPU time.
func (m *Mosquitto) PID() int { return m.cmd.Process.Pid }

// Restart stops the broker with sig, waits for it to exit and starts it again on the same port and
// config (with "persistence true" among the extra lines it keeps its sessions across a SIGTERM).
func (m *Mosquitto) Restart(t testing.TB, sig os.Signal) {
	t.Helper()
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Signal(sig)
		_ = m.cmd.Wait()
		m.cmd = nil
	}
	m.start(t, m.bin)
}

// Stop kills the broker.
func (m *Mosquitto) Stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
		m.cmd = nil
	}
}

// Proxy forwards loopback TCP connections to a broker, so a test can cut a client's connection (the
// client sees an outage, the broker a lost client) while both stay up. New connections are forwarded
// again after a cut.
type Proxy struct {
	URL, Addr string
	ln        net.Listener
	target    string
	mu        sync.Mutex
	conns     []net.Conn
	wg        sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to target (host:port) until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), ln: ln, target: target}
	p.URL = "tcp://" + p.Addr
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Cut closes every forwarded connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
