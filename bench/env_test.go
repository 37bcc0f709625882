// Package bench is ioc's benchmark suite (make bench): ioc measured side by side with Telegraf, a bare
// MQTT subscriber and raw line-protocol writes, on one Mosquitto and one InfluxDB 1.8 started for the
// run on loopback. Results are standard benchmark lines; bench/report turns them into
// bench/results/<timestamp>.json and the table in docs/PERFORMANCE.md.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// repoRoot is the module root (bench/ is one level down).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source directory")
	}
	return filepath.Dir(filepath.Dir(file))
}

var (
	buildOnce sync.Once
	iocBin    string
	buildErr  error
)

// iocBinary builds cmd/ioc once per run.
func iocBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ioc-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		iocBin = filepath.Join(dir, "ioc")
		cmd := exec.Command("go", "build", "-o", iocBin, "./cmd/ioc")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return iocBin
}

// startIOC starts the ioc binary on config path (with --pprof on $IOC_BENCH_PPROF, to profile a run:
// go tool pprof http://$IOC_BENCH_PPROF/debug/pprof/profile?seconds=10); with httpAddr set it waits
// until /readyz answers 200.
func startIOC(t testing.TB, path, httpAddr string) *process {
	t.Helper()
	args := []string{"serve", "--config", path}
	if prof := os.Getenv("IOC_BENCH_PPROF"); prof != "" {
		args = append(args, "--pprof", prof)
	}
	p := start(t, iocBinary(t), args...)
	if httpAddr != "" {
		waitFor(t, 60*time.Second, "ioc ready", func() bool {
			resp, err := http.Get("http://" + httpAddr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	return p
}

// telegrafBinary finds Telegraf: $IOC_TELEGRAF, then $(go env GOPATH)/bin/telegraf (make bench installs
// it there), then $PATH. A missing Telegraf fails the run: the comparison is the point of the suite.
func telegrafBinary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("IOC_TELEGRAF"); b != "" {
		return b
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "telegraf")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("telegraf")
	if err != nil {
		t.Fatalf("telegraf not found (make bench installs it with go install): %v", err)
	}
	return p
}

// process is a child process stopped at cleanup, with its output kept for failure messages.
type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() > 1<<20 {
		w.buf.Reset()
	}
	return w.buf.Write(p)
}

func start(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
	}
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.out.String()
	return s[max(0, len(s)-3000):]
}

// rssBytes is the resident memory of a process (VmRSS).
func (p *process) rssBytes(t testing.TB) float64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", line, err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// cpuSeconds is the CPU time (user + system) a process has used so far: unlike a rate, it hardly
// depends on what else the machine runs, so CPU per message compares runs on a busy machine.
func cpuSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read process stat: %v", err)
	}
	// Fields after the command name (which may hold spaces) start at state: utime and stime are the
	// 12th and 13th of them, in clock ticks (100 per second on Linux).
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("process stat %q: %v %v", rest, err1, err2)
	}
	return (utime + stime) / 100
}

// waitFor polls cond until it holds or d passes (then fails the benchmark with what).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// influxCount returns count(field) over every measurement of db after 2020 (probe points are stamped
// in 2001 and so never counted), leaving out ioc's alarm changes (tagged with their rule), which carry
// the triggering value under the same field name.
func influxCount(t testing.TB, base, db, field string) int {
	t.Helper()
	return influxCountWhere(t, base, db, field, `time > '2020-01-01T00:00:00Z' AND "rule" = ''`)
}

// influxCountWhere returns count(field) over every measurement of db where cond holds.
func influxCountWhere(t testing.TB, base, db, field, cond string) int {
	t.Helper()
	q := fmt.Sprintf(`SELECT count(%q) FROM /.*/ WHERE %s`, field, cond)
	resp, err := http.Get(base + "/query?" + url.Values{"db": {db}, "q": {q}}.Encode())
	if err != nil {
		t.Fatalf("influx count: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("influx count: %v: %s", err, body)
	}
	n := 0
	for _, r := range out.Results {
		if r.Error != "" {
			t.Fatalf("influx count: %s", r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) > 1 {
					if c, ok := v[1].(float64); ok {
						n += int(c)
					}
				}
			}
		}
	}
	return n
}

// influxQuery runs an InfluxQL statement that returns nothing (CREATE DATABASE).
func influxQuery(t testing.TB, base, stmt string) {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"q": {stmt}})
	if err != nil {
		t.Fatalf("influx %q: %v", stmt, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		t.Fatalf("influx %q: %d %s", stmt, resp.StatusCode, body)
	}
}

// mqttClient connects a paho client; cleanup disconnects it.
func mqttClient(t testing.TB, broker, id string, clean bool) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(clean).
		SetWriteTimeout(60 * time.Second).SetMaxResumePubInFlight(1000).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// load is the telemetry the ingest runs publish: ThingsBoard JSON for Devices devices placed in Bến Tre,
// stamped from Base one millisecond apart, Total messages over Conns connections at QoS 1.
type load struct {
	Root    string // topic root: Root/devices/{device}/telemetry
	Devices int
	Total   int
	Conns   int
	Base    time.Time
}

func (l load) topic(i int) string {
	return fmt.Sprintf("%s/devices/bt-%06d/telemetry", l.Root, i%l.Devices)
}

// payload is message i: salinity and water level with the station's place (inside Bến Tre's bbox).
func (l load) payload(i int) []byte {
	d := i % l.Devices
	lon := 106.05 + float64(d%400)*0.0015
	lat := 9.85 + float64(d/400%250)*0.0016
	return fmt.Appendf(nil, `{"ts":%d,"values":{"salinity":%.2f,"water_level":%.2f,"lat":%.5f,"lon":%.5f}}`,
		l.Base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), float64(i%80)/10, 1+float64(i%30)/100, lat, lon)
}

// line is message i as InfluxDB line protocol, for the raw-write ceiling.
func (l load) line(i int) string {
	d := i % l.Devices
	return fmt.Sprintf("telemetry,device=bt-%06d salinity=%.2f,water_level=%.2f %d\n", d, float64(i%80)/10,
		1+float64(i%30)/100, l.Base.Add(time.Duration(i)*time.Millisecond).UnixMilli())
}

// publish sends the whole load as fast as the connections take it and waits for every PUBACK.
func (l load) publish(t testing.TB, broker, idPrefix string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, l.Conns)
	for c := range l.Conns {
		cl := mqttClient(t, broker, fmt.Sprintf("%s-%d", idPrefix, c), true)
		wg.Go(func() {
			var last paho.Token
			for i := c; i < l.Total; i += l.Conns {
				last = cl.Publish(l.topic(i), 1, false, l.payload(i))
			}
			if last != nil && (!last.WaitTimeout(5*time.Minute) || last.Error() != nil) {
				errs <- fmt.Errorf("publisher %d: %v", c, last.Error())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// probe publishes a message stamped in 2001 to root until done reports that it arrived.
func probe(t testing.TB, broker, root string, done func() bool) {
	t.Helper()
	c := mqttClient(t, broker, "bench-probe-"+strings.ReplaceAll(root, "/", "-"), true)
	ts := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	waitFor(t, 60*time.Second, "consumer subscribed on "+root, func() bool {
		c.Publish(root+"/devices/probe/telemetry", 1, false,
			fmt.Sprintf(`{"ts":%d,"values":{"salinity":1,"water_level":1,"lat":10.2,"lon":106.4}}`, ts)).Wait()
		time.Sleep(200 * time.Millisecond)
		return done()
	})
}

// startMosquitto starts the shared broker of a run.
func startMosquitto(t testing.TB) *mqtttest.Mosquitto {
	return mqtttest.StartMosquitto(t)
}

// captureMetrics fetches ioc's /metrics at addr after a run. With $IOC_BENCH_METRICS set (make bench
// sets it to bench/results/metrics) the whole exposition is kept there as <name>.prom, so a run's
// queue depths, sink write times and drops can be read next to its numbers. It returns the exposition.
func captureMetrics(t testing.TB, addr, name string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics of %s: %v", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics of %s: status %d: %v", name, resp.StatusCode, err)
	}
	if dir := os.Getenv("IOC_BENCH_METRICS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, strings.NewReplacer("/", "_", "=", "-").Replace(name)+".prom")
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return string(body)
}

// metricSum adds up every sample of one metric (all label sets) in a Prometheus text exposition.
func metricSum(exposition, name string) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}
