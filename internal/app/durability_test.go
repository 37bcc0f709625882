package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/ioc-vn/ioc/internal/waittest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
)

// countedDevices is how many devices a counted publisher's readings spread over.
const countedDevices = 10

// countedPublisher publishes numbered readings at QoS 1 at full speed (up to window unacknowledged) over
// a persistent session that resends what was not acknowledged after a reconnect, and records every
// PUBACK. Reading i is level=i from device <prefix>-<i%countedDevices> at base+i ms: a unique ts in
// every message, so each reading has its own identity in the stores.
type countedPublisher struct {
	c      paho.Client
	prefix string
	base   time.Time
	window int
	toks   []paho.Token
	sent   []time.Time // when each reading was published, to tell which disruption a loss belongs to
}

func newCountedPublisher(t testing.TB, url, prefix string, base time.Time) *countedPublisher {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(prefix + "-pub").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).SetWriteTimeout(10 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("counted publisher connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return &countedPublisher{c: c, prefix: prefix, base: base, window: 200}
}

func (p *countedPublisher) device(i int) string {
	return fmt.Sprintf("%s-%02d", p.prefix, i%countedDevices)
}
func (p *countedPublisher) ts(i int) int64 {
	return p.base.Add(time.Duration(i) * time.Millisecond).UnixMilli()
}

// publish sends the next n readings. It returns an error when the broker has not acknowledged reading
// i-window within a minute when reading i is due (it blocks meanwhile: ioc restarting).
func (p *countedPublisher) publish(n int) error {
	for k := 0; k < n; k++ {
		i := len(p.toks)
		if i >= p.window && !p.toks[i-p.window].WaitTimeout(time.Minute) {
			return fmt.Errorf("reading %d not acknowledged within a minute", i-p.window)
		}
		payload := fmt.Sprintf(`{"ts":%d,"values":{"level":%d}}`, p.ts(i), i)
		p.sent = append(p.sent, time.Now())
		p.toks = append(p.toks, p.c.Publish(fmt.Sprintf("ioc/devices/%s/telemetry", p.device(i)), 1, false, payload))
	}
	return nil
}

// acked waits (up to a minute in all) for the outstanding acknowledgements and returns the readings the
// broker acknowledged.
func (p *countedPublisher) acked() map[int]bool {
	deadline := time.Now().Add(time.Minute)
	out := make(map[int]bool, len(p.toks))
	for i, tok := range p.toks {
		if tok.WaitTimeout(time.Until(deadline)) && tok.Error() == nil {
			out[i] = true
		}
	}
	return out
}

// storedReading is one reading read back from a store.
type storedReading struct {
	device string
	ts     int64
	level  float64
}

// sqliteReadings reads the stored readings whose device starts with prefix.
func sqliteReadings(t testing.TB, db, prefix string) []storedReading {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(context.Background(), `SELECT entity, ts, value FROM readings WHERE entity LIKE ? AND field = 'level'`, prefix+"-%")
	if err != nil {
		t.Fatalf("read readings: %v", err)
	}
	defer rows.Close()
	var out []storedReading
	for rows.Next() {
		var r storedReading
		if err := rows.Scan(&r.device, &r.ts, &r.level); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// influxReadings reads the stored readings whose device starts with prefix, directly from InfluxDB.
func influxReadings(t testing.TB, srv *influxtest.Server, prefix string) []storedReading {
	t.Helper()
	var out []storedReading
	for _, r := range influxSelect(t, srv, fmt.Sprintf(`SELECT "level" FROM /.*/ WHERE "device" =~ /^%s-/ GROUP BY "device"`, prefix)) {
		out = append(out, storedReading{device: r.tags["device"], ts: r.ts, level: r.level})
	}
	return out
}

// influxPoint is one value a SELECT of one field returned, with its series tags.
type influxPoint struct {
	tags  map[string]string
	ts    int64 // ms
	level float64
}

// influxSelect runs a SELECT of one field (grouped by tags) and returns its points.
func influxSelect(t testing.TB, srv *influxtest.Server, stmt string) []influxPoint {
	t.Helper()
	body, err := srv.Select(stmt)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]float64       `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Results) != 1 || r.Results[0].Error != "" {
		t.Fatalf("select: %v %s", err, short(string(body)))
	}
	var out []influxPoint
	for _, s := range r.Results[0].Series {
		for _, v := range s.Values {
			out = append(out, influxPoint{tags: s.Tags, ts: int64(v[0]), level: v[1]})
		}
	}
	return out
}

// checkExactlyOnce checks that every acknowledged reading is stored, and that every stored reading is one
// that was published, once, at its own device and time. It returns how many were stored.
func (p *countedPublisher) checkExactlyOnce(t testing.TB, stored []storedReading, acked map[int]bool) int {
	t.Helper()
	seen := make(map[int]bool, len(stored))
	for _, r := range stored {
		i := int(r.level)
		if i < 0 || i >= len(p.toks) || float64(i) != r.level || seen[i] || r.device != p.device(i) || r.ts != p.ts(i) {
			t.Errorf("unexpected stored reading %+v (a duplicate, or not one that was published)", r)
			continue
		}
		seen[i] = true
	}
	var lost []int
	for i := range acked {
		if !seen[i] {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%d of %d acknowledged readings were not stored: readings %d (published %s) … %d (published %s)",
			len(lost), len(acked), lost[0], p.sent[lost[0]].Format(time.RFC3339Nano),
			lost[len(lost)-1], p.sent[lost[len(lost)-1]].Format(time.RFC3339Nano))
	}
	return len(seen)
}

// awaitCount waits until count() reaches want, or 30 s, after which the caller's check says what is
// missing.
func awaitCount(want int, count func() int) {
	waittest.Until(30*time.Second, func() bool { return count() >= want })
}

// durableConfig writes the config of an ioc child process: its HTTP and embedded-broker ports, InfluxDB
// when srv is not nil, and one telemetry collector per broker ("embedded" or a URL) it reads. The
// webhook takes camera pushes from source "kt" with the bearer pushToken.
func durableConfig(t testing.TB, dir, httpAddr, brokerAddr string, srv *influxtest.Server, brokers ...string) string {
	t.Helper()
	influx := "influx: {enabled: false}"
	if srv != nil {
		influx = fmt.Sprintf(`influx: {enabled: true, url: "%s", bucket: "%s", timeout: 2s, spool: {dir: "%s/spool"}}`, srv.URL, srv.Bucket(), dir)
	}
	var collectors strings.Builder
	for i, b := range brokers {
		fmt.Fprintf(&collectors, `
  - name: telemetry-%d
    type: mqtt
    broker: "%s"
    client_id: ioc-durable-test-%d
    qos: 1
    clean_session: false
    ack: after_store
    max_payload: 65536
    keep_alive: 10s
    topics:
      - {filter: "ioc/devices/+/telemetry", format: thingsboard}`, i, b, i)
	}
	config := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
log: {level: warn}
http: {addr: "%s"}
broker: {enabled: true, listen: "%s"}
store: {path: "%s/ioc.db"}
%s
alarm: {store: {path: "%s/alarms.db"}}
reports: {store: {path: "%s/reports.db"}, photo_dir: "%s/photos", catalogue: "../../configs/services.yaml", calendar: {holidays: "../../configs/holidays-vn.yaml"}}
geo: {admin_files: ["../../configs/admin/83.geojson"]}
webhook: {enabled: true, collapse_window: 0s, sources: [{name: kt, auth: {mode: bearer, secret: %q}}]}
collectors:%s
`, httpAddr, brokerAddr, dir, influx, dir, dir, dir, pushToken, collectors.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	return config
}

// TestKillLosesNothingAcknowledged is the kill matrix: a counted publisher at full speed through the
// embedded broker or an external Mosquitto, ioc killed (SIGKILL) or stopped (SIGTERM) mid-stream and
// started again, readings in SQLite or InfluxDB: every reading the broker acknowledged is stored, and
// none twice.
func TestKillLosesNothingAcknowledged(t *testing.T) {
	iocBinary(t)
	for _, tc := range []struct {
		name   string
		broker string // embedded | mosquitto
		sig    syscall.Signal
		influx bool
	}{
		{"embedded broker, SIGKILL, SQLite", "embedded", syscall.SIGKILL, false},
		{"embedded broker, SIGTERM, SQLite", "embedded", syscall.SIGTERM, false},
		{"Mosquitto, SIGKILL, SQLite", "mosquitto", syscall.SIGKILL, false},
		{"Mosquitto, SIGTERM, SQLite", "mosquitto", syscall.SIGTERM, false},
		{"embedded broker, SIGKILL, InfluxDB", "embedded", syscall.SIGKILL, true},
		{"embedded broker, SIGTERM, InfluxDB", "embedded", syscall.SIGTERM, true},
		{"Mosquitto, SIGKILL, InfluxDB", "mosquitto", syscall.SIGKILL, true},
		{"Mosquitto, SIGTERM, InfluxDB", "mosquitto", syscall.SIGTERM, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
			brokerAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
			broker, pubURL := "embedded", "tcp://"+brokerAddr
			if tc.broker == "mosquitto" {
				m := mqtttest.StartMosquitto(t)
				broker, pubURL = m.URL, m.URL
			}
			var srv *influxtest.Server
			if tc.influx {
				srv = influxtest.Start(t)
			}
			config := durableConfig(t, dir, httpAddr, brokerAddr, srv, broker)
			p := startProcess(t, config, httpAddr)
			pub := newCountedPublisher(t, pubURL, "kt", time.Now().Add(-time.Hour).Truncate(time.Millisecond))

			const before, after = 3000, 2000
			if err := pub.publish(before); err != nil {
				t.Fatal(err)
			}
			// Stop ioc while the last of those are in flight, and start it again while the publisher
			// goes on.
			restarted := make(chan *iocProcess, 1)
			failed := make(chan error, 1)
			go func() {
				if err := p.cmd.Process.Signal(tc.sig); err != nil {
					failed <- fmt.Errorf("signal ioc: %w", err)
					return
				}
				<-p.done
				if tc.sig == syscall.SIGTERM && p.err != nil {
					failed <- fmt.Errorf("ioc stopped with %w\n%s", p.err, p.stderr.String())
					return
				}
				np, err := launch(config, httpAddr)
				if np != nil {
					restarted <- np
				}
				if err != nil {
					failed <- err
				}
			}()
			if err := pub.publish(after); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-failed:
				t.Fatal(err)
			case p = <-restarted:
				t.Cleanup(p.kill)
			}
			acked := pub.acked()
			storedNow := func() []storedReading {
				if srv != nil {
					return influxReadings(t, srv, pub.prefix)
				}
				return sqliteReadings(t, filepath.Join(dir, "ioc.db"), pub.prefix)
			}
			awaitCount(len(acked), func() int { return len(storedNow()) })
			p.stop(t)
			n := pub.checkExactlyOnce(t, storedNow(), acked)
			t.Logf("published %d, acknowledged %d, stored %d", len(pub.toks), len(acked), n)
		})
	}
}

// TestInfluxOutageLosesNothingAcknowledged: a counted publisher at full speed through the embedded broker
// while InfluxDB is frozen (SIGSTOP) or killed mid-stream and then comes back: every reading the broker
// acknowledged is in InfluxDB once.
func TestInfluxOutageLosesNothingAcknowledged(t *testing.T) {
	iocBinary(t)
	for _, tc := range []struct {
		name     string
		down, up func(*influxtest.Server) error
	}{
		{"frozen", (*influxtest.Server).Pause, (*influxtest.Server).Resume},
		{"killed", func(s *influxtest.Server) error { s.Kill(); return nil }, (*influxtest.Server).Restart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
			brokerAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
			srv := influxtest.Start(t)
			p := startProcess(t, durableConfig(t, dir, httpAddr, brokerAddr, srv, "embedded"), httpAddr)
			pub := newCountedPublisher(t, "tcp://"+brokerAddr, "io", time.Now().Add(-time.Hour).Truncate(time.Millisecond))
			if err := pub.publish(1500); err != nil {
				t.Fatal(err)
			}
			if err := tc.down(srv); err != nil {
				t.Fatal(err)
			}
			if err := pub.publish(1500); err != nil { // acknowledged once spooled
				t.Fatal(err)
			}
			if err := tc.up(srv); err != nil {
				t.Fatal(err)
			}
			if err := pub.publish(1500); err != nil {
				t.Fatal(err)
			}
			acked := pub.acked()
			awaitCount(len(acked), func() int { return len(influxReadings(t, srv, pub.prefix)) })
			p.stop(t)
			n := pub.checkExactlyOnce(t, influxReadings(t, srv, pub.prefix), acked)
			t.Logf("published %d, acknowledged %d, stored %d", len(pub.toks), len(acked), n)
		})
	}
}
