package app

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
	"github.com/ioc-vn/ioc/stream"
)

// influxConfig is testConfig storing history in srv, with the spool in spoolDir.
func influxConfig(t testing.TB, srv *influxtest.Server, spoolDir string) config.Config {
	cfg := testConfig(t)
	cfg.Influx.Enabled = true
	cfg.Influx.URL, cfg.Influx.Bucket = srv.URL, srv.Bucket()
	cfg.Influx.Timeout = 2 * time.Second
	cfg.Influx.Spool.Dir = spoolDir
	return cfg
}

// runApp starts ioc in-process and returns a stop function that waits for a clean stop (also run at
// cleanup when the test did not call it).
func runApp(t *testing.T, cfg config.Config) (*App, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := Start(ctx, cfg, testLogger(t), Options{AdminFile: filepath.Join("..", "..", "configs", "admin", "83.geojson")})
	if err != nil {
		cancel()
		t.Fatalf("start ioc: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := a.Wait(); err != nil {
				t.Errorf("ioc stopped with: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, 10*time.Second, "collectors receiving", func() bool { // subscribed: a message published now is delivered
		return metricValue(t, a.Gatherer, "ioc_collector_receiving", nil) >= float64(len(cfg.Collectors))
	})
	return a, stop
}

// influxDevices is how many devices the numbered readings spread over; they sit in Bến Tre so area
// enrichment has something to find.
const influxDevices = 10

// publishReadings publishes readings from..to-1 at QoS 1: reading i is level=i from device
// ifx-(i%influxDevices) at base+i ms. It waits until the broker has acknowledged them all.
func publishReadings(t *testing.T, c paho.Client, base time.Time, from, to int) {
	t.Helper()
	var last paho.Token
	for i := from; i < to; i++ {
		lon, lat := 106.37+float64(i%influxDevices)*0.001, 10.24
		last = c.Publish(fmt.Sprintf("ioc/devices/ifx-%02d/telemetry", i%influxDevices), 1, false,
			fmt.Sprintf(`{"ts":%d,"values":{"level":%d,"lon":%g,"lat":%g}}`, base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i, lon, lat))
	}
	if last != nil && (!last.WaitTimeout(60*time.Second) || last.Error() != nil) {
		t.Fatalf("publish: %v", last.Error())
	}
}

// influxRow is one stored reading with its tags.
type influxRow struct {
	level float64
	tags  map[string]string
}

// influxRows reads every stored level with its series tags, directly from InfluxDB.
func influxRows(t *testing.T, srv *influxtest.Server) []influxRow {
	t.Helper()
	var out []influxRow
	for _, r := range influxSelect(t, srv, `SELECT "level" FROM /.*/ GROUP BY *`) {
		out = append(out, influxRow{level: r.level, tags: r.tags})
	}
	return out
}

// checkOnce checks that levels 0..n-1 are each stored exactly once, from the right device.
func checkOnce(t *testing.T, rows []influxRow, n int) {
	t.Helper()
	if len(rows) != n {
		t.Fatalf("%d readings in InfluxDB, want exactly %d", len(rows), n)
	}
	seen := make([]bool, n)
	for _, r := range rows {
		i := int(r.level)
		if i < 0 || i >= n || seen[i] || r.tags["device"] != fmt.Sprintf("ifx-%02d", i%influxDevices) {
			t.Fatalf("unexpected reading level=%v tags=%v", r.level, r.tags)
		}
		seen[i] = true
	}
}

func influxWritten(t testing.TB, a *App) float64 {
	return metricValue(t, a.Gatherer, "ioc_influx_points_written_total", nil)
}

// TestInfluxReadingsOverMQTT: readings published over MQTT reach InfluxDB exactly once with their
// values, device and kind tags and area codes, and /api/v1/readings serves them from InfluxDB (raw and
// aggregated) while SQLite keeps none.
func TestInfluxReadingsOverMQTT(t *testing.T) {
	srv := influxtest.Start(t)
	cfg := influxConfig(t, srv, t.TempDir())
	a, _ := runApp(t, cfg)
	const n = 2000
	base := time.Now().Add(-time.Hour).Truncate(time.Hour)
	publishReadings(t, publisher(t, a.Broker.URL(), "influx-pub"), base, 0, n)
	waitFor(t, 30*time.Second, "readings written to InfluxDB", func() bool { return influxWritten(t, a) >= n })

	rows := influxRows(t, srv)
	checkOnce(t, rows, n)
	for _, r := range rows {
		e, ok := a.Registry.Get(r.tags["device"])
		if !ok {
			t.Fatalf("device %s not in the registry", r.tags["device"])
		}
		if r.tags["province"] != "83" || r.tags["district"] == "" {
			t.Fatalf("%s: tags %v, want the area codes of Bến Tre (province 83) from enrichment", r.tags["device"], r.tags)
		}
		if r.tags["kind"] != e.Kind {
			t.Fatalf("kind tag %q, registry says %q", r.tags["kind"], e.Kind)
		}
		for lvl, code := range e.Areas {
			if r.tags[lvl] != code {
				t.Fatalf("%s: area tag %s=%q, want %q (tags %v)", r.tags["device"], lvl, r.tags[lvl], code, r.tags)
			}
		}
	}

	from, to := base.Add(-time.Minute), base.Add(time.Hour)
	total := 0
	for d := 0; d < influxDevices; d++ {
		dev := fmt.Sprintf("ifx-%02d", d)
		r := readings(t, a.HTTP.Addr(), dev, "level", from, to)
		for i, s := range r.Samples {
			if want := float64(d + i*influxDevices); s.Value != want {
				t.Fatalf("%s sample %d = %v, want %v", dev, i, s.Value, want)
			}
		}
		total += len(r.Samples)
		var agg readingsResp
		q := url.Values{"device": {dev}, "field": {"level"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)},
			"every": {"1h"}, "agg": {"count"}}
		if code := getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/readings?"+q.Encode(), &agg); code != 200 || len(agg.Samples) != 1 ||
			agg.Samples[0].Value != float64(n/influxDevices) {
			t.Fatalf("%s: every=1h agg=count: status %d, %+v", dev, code, agg.Samples)
		}
	}
	if total != n {
		t.Fatalf("/api/v1/readings returned %d samples, want %d", total, n)
	}
	sq, err := a.Store.Readings(context.Background(), stream.ReadingQuery{Entity: "ifx-00", Field: "level", From: from, To: to})
	if err != nil || len(sq) != 0 {
		t.Fatalf("SQLite holds %d readings (%v), want none while InfluxDB keeps the history", len(sq), err)
	}
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	if code := getJSON(t, "http://"+a.HTTP.Addr()+"/readyz", &ready); code != 200 || ready.Checks["influx"] != "ok" {
		t.Fatalf("/readyz: %d %v", code, ready.Checks)
	}
}

// TestInfluxKilledMidStream kills influxd while readings keep arriving over MQTT, restarts it, and
// expects every reading exactly once.
func TestInfluxKilledMidStream(t *testing.T) {
	srv := influxtest.Start(t)
	a, _ := runApp(t, influxConfig(t, srv, t.TempDir()))
	pub := publisher(t, a.Broker.URL(), "influx-kill-pub")
	const n = 3000
	base := time.Now().Add(-time.Hour)
	publishReadings(t, pub, base, 0, 1000)
	waitFor(t, 30*time.Second, "first readings written", func() bool { return influxWritten(t, a) >= 500 })
	srv.Kill()
	publishReadings(t, pub, base, 1000, 2000)
	waitFor(t, 30*time.Second, "readings spooled while InfluxDB is down", func() bool {
		return metricValue(t, a.Gatherer, "ioc_influx_spooled_points_total", nil) >= 1000
	})
	// The spool keeps every point: ioc stays ready, degraded (a load balancer keeps the citizen pages).
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if code := getJSON(t, "http://"+a.HTTP.Addr()+"/readyz", &ready); code != 200 || ready.Status != "degraded" ||
		!strings.HasPrefix(ready.Checks["influx"], "degraded: ") {
		t.Errorf("/readyz with InfluxDB down: %d %s %v, want 200 degraded", code, ready.Status, ready.Checks)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	publishReadings(t, pub, base, 2000, n)
	waitFor(t, 60*time.Second, "spool replayed", func() bool {
		return influxWritten(t, a) >= n && metricValue(t, a.Gatherer, "ioc_influx_spool_points", nil) == 0
	})
	checkOnce(t, influxRows(t, srv), n)
}

// TestInfluxIOCRestartWhileDown: readings accepted while InfluxDB is down survive a restart of ioc and
// reach InfluxDB once it is back, exactly once.
func TestInfluxIOCRestartWhileDown(t *testing.T) {
	srv := influxtest.Start(t)
	srv.Kill()
	cfg := influxConfig(t, srv, t.TempDir())
	base := time.Now().Add(-time.Hour)
	a, stop := runApp(t, cfg)
	publishReadings(t, publisher(t, a.Broker.URL(), "influx-restart-pub-1"), base, 0, 1500)
	waitFor(t, 30*time.Second, "readings spooled", func() bool {
		return metricValue(t, a.Gatherer, "ioc_influx_spooled_points_total", nil) >= 1500
	})
	stop()

	a, _ = runApp(t, cfg) // InfluxDB still down
	if p := metricValue(t, a.Gatherer, "ioc_influx_spool_points", nil); p != 1500 {
		t.Fatalf("restarted ioc finds %v spooled points, want 1500", p)
	}
	publishReadings(t, publisher(t, a.Broker.URL(), "influx-restart-pub-2"), base, 1500, 2500)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "spool replayed", func() bool {
		return influxWritten(t, a) >= 2500 &&
			metricValue(t, a.Gatherer, "ioc_influx_spool_points", nil) == 0
	})
	checkOnce(t, influxRows(t, srv), 2500)
}

// TestInfluxSpoolFullRaisesAlarm: with InfluxDB down and a 1 MiB spool (drop_oldest), readings fill the
// spool; ioc raises its built-in critical alarm "InfluxDB spool full", and clears it once InfluxDB is
// back and the spool has drained.
func TestInfluxSpoolFullRaisesAlarm(t *testing.T) {
	srv := influxtest.Start(t)
	srv.Kill()
	cfg := influxConfig(t, srv, t.TempDir())
	cfg.Influx.Spool.MaxBytes, cfg.Influx.Spool.OnFull = 1<<20, "drop_oldest"
	a, _ := runApp(t, cfg)
	spoolAlarm := func() (state string) {
		var out struct {
			Alarms []struct {
				State    string `json:"state"`
				Severity string `json:"severity"`
			} `json:"alarms"`
		}
		getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/alarms?rule=influx-spool-full", &out)
		if len(out.Alarms) == 0 {
			return ""
		}
		if len(out.Alarms) > 1 || out.Alarms[0].Severity != "critical" {
			t.Fatalf("spool alarms: %+v, want one critical", out.Alarms)
		}
		return out.Alarms[0].State
	}
	if s := spoolAlarm(); s != "" {
		t.Fatalf("spool alarm %q before the spool filled", s)
	}
	publishReadings(t, publisher(t, a.Broker.URL(), "influx-spool-full-pub"), time.Now().Add(-time.Hour), 0, 30000) // > 1 MiB
	waitFor(t, 60*time.Second, "the spool-full alarm raised", func() bool { return spoolAlarm() == "active_unack" })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the spool-full alarm cleared after the spool drained", func() bool { return spoolAlarm() == "cleared_unack" })
}
