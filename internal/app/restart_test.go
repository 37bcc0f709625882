package app

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// iocBinary builds cmd/ioc once per test run.
func iocBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ioc-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ioc")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/ioc")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// iocProcess is ioc serve running as a child process.
type iocProcess struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited; then err is its exit error
	err    error
}

// syncBuffer is a bytes.Buffer the process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startProcess(t *testing.T, config string, httpAddr string) *iocProcess {
	t.Helper()
	iocBinary(t)
	p, err := launch(config, httpAddr)
	if p != nil {
		t.Cleanup(p.kill)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launch starts ioc serve with config and waits until httpAddr/readyz answers 200. On a failed start it
// returns the process (to be killed) with the error. It may run outside the test goroutine.
func launch(config string, httpAddr string) (*iocProcess, error) {
	bin := binPath
	if bin == "" {
		return nil, fmt.Errorf("ioc binary not built (call iocBinary first)")
	}
	p := &iocProcess{cmd: exec.Command(bin, "serve", "--config", config), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ioc: %w", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("ioc did not become ready: %v\n%s", err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL (a crash) and waits for it; a no-op once it has exited.
func (p *iocProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *iocProcess) terminate() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("ioc exited with %w", p.err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("ioc did not stop within 30s")
	}
}

// stop is terminate for the test goroutine.
func (p *iocProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.terminate(); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr.String())
	}
}

// TestRestartLosesNothing: with Mosquitto as the broker, readings published at QoS 1 before, during and
// after a SIGTERM restart of ioc are each stored exactly once: the durable session keeps what arrives
// while ioc is down and QoS 1 redeliveries are absorbed by idempotent writes. Without "ts" too: the
// stopping collector lets the batches it handed over be stored and acknowledged before it disconnects,
// and closes the connection without a reset, so no stored message comes back to the next run to be
// stamped again (without the wait 3-65 of 6,000 were stored twice in every run; without the clean
// close 3-99 in 3 of 10 runs).
func TestRestartLosesNothing(t *testing.T) {
	for _, tt := range []struct {
		name     string
		timeless bool
	}{{"with ts", false}, {"without ts", true}} {
		t.Run(tt.name, func(t *testing.T) { restartLosesNothing(t, tt.timeless) })
	}
}

func restartLosesNothing(t *testing.T, timeless bool) {
	m := mqtttest.StartMosquitto(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "ioc.db")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	config := durableConfig(t, dir, httpAddr, fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)), nil, m.URL)

	const devices, phase1, phase2, phase3 = 20, 3000, 2000, 1000
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	pub := publisher(t, m.URL, "restart-publisher")
	seq := 0
	send := func(n int, pace time.Duration) {
		for i := 0; i < n; i++ {
			dev := seq % devices
			payload := fmt.Sprintf(`{"ts":%d,"values":{"level":%d}}`, base.Add(time.Duration(seq)*time.Millisecond).UnixMilli(), seq)
			if timeless {
				payload = fmt.Sprintf(`{"level":%d}`, seq)
			}
			publish(t, pub, fmt.Sprintf("ioc/devices/rs-%02d/telemetry", dev), payload)
			seq++
			if pace > 0 && i%100 == 0 {
				time.Sleep(pace)
			}
		}
	}

	p := startProcess(t, config, httpAddr)
	// Phase 1: publish while ioc runs; SIGTERM it in the middle of the stream.
	stopped := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		stopped <- p.terminate()
	}()
	send(phase1, 10*time.Millisecond)
	if err := <-stopped; err != nil {
		t.Fatalf("%v\n%s", err, p.stderr.String())
	}
	// Phase 2: ioc is down; the broker keeps the messages for its durable session.
	send(phase2, 0)
	// Phase 3: ioc is back.
	first := p
	p = startProcess(t, config, httpAddr)
	send(phase3, 0)
	total := phase1 + phase2 + phase3

	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func() int {
		var n int
		if err := conn.QueryRowContext(context.Background(), `SELECT count(*) FROM readings`).Scan(&n); err != nil {
			t.Fatalf("count readings: %v", err)
		}
		return n
	}
	for deadline := time.Now().Add(60 * time.Second); count() < total; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s %d of %d readings stored (missing: %v); ioc said:\n%s", count(), total, missing(t, conn, total), p.stderr.String())
		}
	}
	p.stop(t)
	if n := count(); n != total {
		t.Fatalf("%d readings stored, want exactly %d; stored twice (value: times): %v\n%s", n, total, twice(t, conn), first.stderr.String()+"\n----\n"+p.stderr.String())
	}
	// Every published value is there once, at its own device and time.
	rows, err := conn.Query(`SELECT entity, ts, value FROM readings`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := make([]bool, total)
	for rows.Next() {
		var entity string
		var ts int64
		var v float64
		if err := rows.Scan(&entity, &ts, &v); err != nil {
			t.Fatal(err)
		}
		i := int(v)
		if i < 0 || i >= total || seen[i] || entity != fmt.Sprintf("rs-%02d", i%devices) ||
			!timeless && ts != base.Add(time.Duration(i)*time.Millisecond).UnixMilli() {
			t.Fatalf("unexpected reading %s %d %v", entity, ts, v)
		}
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("reading %d missing", i)
		}
	}
}

// missing lists the published sequence numbers (values) not stored, at most 20 of them.
func missing(t *testing.T, conn *sql.DB, total int) []int {
	t.Helper()
	rows, err := conn.Query(`SELECT value FROM readings`)
	if err != nil {
		t.Fatalf("list readings: %v", err)
	}
	defer rows.Close()
	seen := make([]bool, total)
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("list readings: %v", err)
		}
		if i := int(v); i >= 0 && i < total {
			seen[i] = true
		}
	}
	var out []int
	for i, ok := range seen {
		if !ok && len(out) < 20 {
			out = append(out, i)
		}
	}
	return out
}

// twice lists up to 10 values stored more than once with their times (Unix ms).
func twice(t *testing.T, conn *sql.DB) []string {
	t.Helper()
	rows, err := conn.Query(`SELECT value, group_concat(ts) FROM readings GROUP BY entity, value HAVING count(*) > 1 LIMIT 10`)
	if err != nil {
		t.Fatalf("list duplicates: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v float64
		var ts string
		if err := rows.Scan(&v, &ts); err != nil {
			t.Fatalf("list duplicates: %v", err)
		}
		out = append(out, fmt.Sprintf("%v: %s", v, ts))
	}
	return out
}
