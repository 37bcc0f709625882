// Package influxtest runs a real InfluxDB 1.8 (influxd) for tests: on free loopback ports, with its data
// in a temporary directory, Flux enabled and reporting off, and a database created. Tests can kill and
// restart it to simulate an outage. It is imported only by tests.
package influxtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// Server is a running influxd.
type Server struct {
	URL      string // http://127.0.0.1:PORT
	Database string // created at start; the bucket is Database + "/autogen"
	bin      string
	conf     string
	logPath  string

	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan error
}

// Binary finds influxd: $IOC_INFLUXD, then $(go env GOPATH)/bin/influxd, then $PATH.
func Binary() (string, error) {
	if b := os.Getenv("IOC_INFLUXD"); b != "" {
		return b, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	if gopath != "" {
		if b := filepath.Join(gopath, "bin", "influxd"); isExec(b) {
			return b, nil
		}
	}
	b, err := exec.LookPath("influxd")
	if err != nil {
		return "", fmt.Errorf("influxd not found in $IOC_INFLUXD, $(go env GOPATH)/bin or $PATH (make test builds it: go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10): %w", err)
	}
	return b, nil
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start runs influxd until the test ends, creates database "ioc" and returns the server. It fails the
// test when influxd is missing or does not come up.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	httpPort, rpcPort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), Database: "ioc", bin: bin,
		conf: filepath.Join(dir, "influxdb.conf"), logPath: filepath.Join(dir, "influxd.log")}
	def, err := exec.Command(bin, "config").Output()
	if err != nil {
		t.Fatalf("influxd config: %v", err)
	}
	conf := editConfig(def, map[string]map[string]string{
		"":     {"reporting-disabled": "true", "bind-address": fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", rpcPort))},
		"meta": {"dir": fmt.Sprintf("%q", filepath.Join(dir, "meta")), "logging-enabled": "false"},
		"data": {"dir": fmt.Sprintf("%q", filepath.Join(dir, "data")), "wal-dir": fmt.Sprintf("%q", filepath.Join(dir, "wal")),
			"query-log-enabled": "false"},
		"monitor": {"store-enabled": "false"},
		"http": {"bind-address": fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", httpPort)), "flux-enabled": "true",
			"log-enabled": "false", "pprof-enabled": "false"},
		"continuous_queries": {"enabled": "false"},
		"logging":            {"level": `"warn"`, "suppress-logo": "true"},
	})
	if err := os.WriteFile(s.conf, conf, 0o644); err != nil {
		t.Fatalf("influxd config: %v", err)
	}
	t.Cleanup(s.Kill)
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Query(fmt.Sprintf("CREATE DATABASE %q", s.Database)); err != nil {
		t.Fatal(err)
	}
	return s
}

// Bucket is the database/retention policy name used by the v2-compatible write API.
func (s *Server) Bucket() string { return s.Database + "/autogen" }

// editConfig sets keys in the sections of influxd's TOML ("" is the top level), keeping the rest.
func editConfig(def []byte, set map[string]map[string]string) []byte {
	var out bytes.Buffer
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(def))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			section = strings.Trim(trim, "[]")
		} else if k, _, ok := strings.Cut(trim, "="); ok {
			if v, ok := set[section][strings.TrimSpace(k)]; ok {
				line = fmt.Sprintf("  %s = %s", strings.TrimSpace(k), v)
			}
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

// Restart starts influxd (after Kill) on the same ports and data, and waits until it answers /ping.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("influxd is already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("influxd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "run", "-config", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start influxd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				s.cmd, s.exited = cmd, exited
				return nil
			}
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("influxd exited at start: %v\n%s", werr, s.tail())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("influxd did not answer %s/ping within 30s: %v\n%s", s.URL, err, s.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops influxd with SIGKILL (an outage, not a clean stop). It is a no-op when it is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// PID is the running influxd's process id (0 when it is not running), for benchmarks that account
// its CPU time.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Pause freezes influxd (SIGSTOP): connections are accepted by the kernel but nothing is answered, as
// with an overloaded server. Resume undoes it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Resume lets a paused influxd run again (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("influxd is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("influxd: %v: %w", sig, err)
	}
	return nil
}

// tail is the end of influxd's log, for failure messages.
func (s *Server) tail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	return string(data[max(0, len(data)-2000):])
}

// Query runs InfluxQL statements that return no data (CREATE DATABASE …).
func (s *Server) Query(stmt string) error {
	resp, err := http.PostForm(s.URL+"/query", url.Values{"q": {stmt}})
	if err != nil {
		return fmt.Errorf("influx query %q: %w", stmt, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("influx query %q: %w", stmt, err)
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("influx query %q: status %d: %s", stmt, resp.StatusCode, body)
	}
	return nil
}

// Select runs an InfluxQL query on the database and returns the raw JSON answer (epoch=ms).
func (s *Server) Select(stmt string) ([]byte, error) {
	v := url.Values{"db": {s.Database}, "q": {stmt}, "epoch": {"ms"}}
	resp, err := http.Get(s.URL + "/query?" + v.Encode())
	if err != nil {
		return nil, fmt.Errorf("influx select %q: %w", stmt, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("influx select %q: %w", stmt, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influx select %q: status %d: %s", stmt, resp.StatusCode, body)
	}
	return body, nil
}

// WriteLines posts line protocol (ms precision) to the v1 /write endpoint, for the raw-rate benchmark.
func (s *Server) WriteLines(client *http.Client, body []byte) error {
	resp, err := client.Post(s.URL+"/write?db="+url.QueryEscape(s.Database)+"&precision=ms", "text/plain", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("influx write: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, rerr := io.ReadAll(resp.Body)
		return fmt.Errorf("influx write: status %d: %s%v", resp.StatusCode, msg, errOrNil(rerr))
	}
	return nil
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return " (reading the answer: " + err.Error() + ")"
}
