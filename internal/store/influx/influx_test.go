package influx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ioc-vn/ioc/internal/store/influx"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
	"github.com/ioc-vn/ioc/stream"
)

var t0 = time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)

// open opens a store on srv with its own registry; spool is the spool directory (t.TempDir() if "").
func open(t testing.TB, srv *influxtest.Server, spool string, edit func(*influx.Config)) (*influx.Store, *prometheus.Registry) {
	t.Helper()
	cfg := influx.Defaults()
	cfg.URL, cfg.Bucket = srv.URL, srv.Bucket()
	cfg.Timeout = 2 * time.Second
	if spool == "" {
		spool = t.TempDir()
	}
	cfg.Spool.Dir = spool
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	st, err := influx.Open(cfg, influx.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, reg
}

// reading is telemetry event i of a numbered stream: device sp-(i%devices), value i, one ms apart.
func reading(i, devices int) stream.Event {
	return stream.Event{Entity: fmt.Sprintf("sp-%03d", i%devices), Kind: "water_level", Type: stream.TypeTelemetry,
		Time: t0.Add(time.Duration(i) * time.Millisecond), Values: map[string]float64{"level": float64(i)},
		Areas: map[string]string{"province": "83", "district": fmt.Sprint(829 + i%3)}}
}

func batch(from, n, devices int) []stream.Event {
	out := make([]stream.Event, n)
	for i := range out {
		out[i] = reading(from+i, devices)
	}
	return out
}

// selectRows runs an InfluxQL query and returns its rows as column → value maps.
func selectRows(t *testing.T, srv *influxtest.Server, q string) []map[string]any {
	t.Helper()
	body, err := srv.Select(q)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Results []struct {
			Series []struct {
				Columns []string `json:"columns"`
				Values  [][]any  `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Results) != 1 || r.Results[0].Error != "" {
		t.Fatalf("%s: %v %s", q, err, body)
	}
	var rows []map[string]any
	for _, s := range r.Results[0].Series {
		for _, v := range s.Values {
			row := map[string]any{}
			for i, c := range s.Columns {
				row[c] = v[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// levels returns every stored level value of the numbered stream, sorted.
func levels(t *testing.T, srv *influxtest.Server) []int {
	t.Helper()
	var out []int
	for _, r := range selectRows(t, srv, `SELECT "level" FROM "water_level"`) {
		out = append(out, int(r["level"].(float64)))
	}
	slices.Sort(out)
	return out
}

func metric(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exactlyOnce checks that the stored levels are 0..n-1, each once.
func exactlyOnce(t *testing.T, got []int, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d points stored, want exactly %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("stored levels: %d at position %d, want each of 0..%d once", v, i, n-1)
		}
	}
}

// TestSchema writes one event of each family and reads the points back with InfluxQL: measurement per
// kind, device/kind/area tags, values as fields, bounded tags only.
func TestSchema(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, _ := open(t, srv, "", nil)
	areas := map[string]string{"province": "83", "district": "829", "commune": "28756"}
	events := []stream.Event{
		{Entity: "trạm 1,a=b", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0, Areas: areas,
			Values: map[string]float64{"salinity": 4.25, "temperature": 28.5}, Attrs: map[string]string{"unit": "g/l"}},
		{Entity: "cam-1", Kind: "camera", Type: stream.TypeCamera, Time: t0, Areas: areas,
			Values: map[string]float64{"score": 0.91}, Attrs: map[string]string{"label": "person", "event_id": "e-77", "zone": "cổng"}},
		{Entity: "alarm-123", Kind: "alarm", Type: stream.TypeAlarm, Time: t0, Areas: areas,
			Values: map[string]float64{"salinity": 4.25},
			Attrs:  map[string]string{"rule": "salinity-high", "severity": "critical", "state": "active", "action": "raise", "source": "trạm 1,a=b", "name": "Mặn cao"}},
		{Entity: "report-9", Kind: "report", Type: stream.TypeReport, Time: t0, Areas: areas,
			Attrs: map[string]string{"report_id": "9", "category": "flood", "status": "open", "description": "nước ngập \"sâu\"\nđường"}},
	}
	if err := st.Write(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		query  string
		want   map[string]any
		absent []string
	}{
		{"telemetry: measurement is the kind", `SELECT * FROM "salinity"`, map[string]any{"device": "trạm 1,a=b", "kind": "salinity",
			"province": "83", "district": "829", "commune": "28756", "salinity": 4.25, "temperature": 28.5, "time": float64(t0.UnixMilli())}, []string{"unit"}},
		{"camera events", `SELECT * FROM "camera_events"`, map[string]any{"device": "cam-1", "kind": "camera", "label": "person",
			"district": "829", "score": 0.91, "event_id": "e-77", "zone": "cổng"}, nil},
		{"alarms: alarm id is a field, its device a tag", `SELECT * FROM "alarms"`, map[string]any{"device": "trạm 1,a=b", "rule": "salinity-high",
			"severity": "critical", "state": "active", "action": "raise", "alarm_id": "alarm-123", "name": "Mặn cao", "salinity": 4.25, "commune": "28756"}, []string{"source"}},
		{"reports: no free text", `SELECT * FROM "report_events"`, map[string]any{"report_id": "report-9", "category": "flood", "status": "open",
			"province": "83"}, []string{"description", "device"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := selectRows(t, srv, tt.query)
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1: %v", len(rows), rows)
			}
			for k, v := range tt.want {
				if rows[0][k] != v {
					t.Errorf("%s = %#v, want %#v", k, rows[0][k], v)
				}
			}
			for _, k := range tt.absent {
				if rows[0][k] != nil {
					t.Errorf("%s = %#v, want it not stored", k, rows[0][k])
				}
			}
		})
	}
	t.Run("unbounded IDs are not tags", func(t *testing.T) {
		for _, r := range selectRows(t, srv, `SHOW TAG KEYS`) {
			if k := r["tagKey"]; k == "event_id" || k == "alarm_id" || k == "report_id" {
				t.Errorf("tag key %v", k)
			}
		}
	})
	t.Run("readings of devices with special characters", func(t *testing.T) {
		for _, id := range []string{"trạm 2,a=b", `ends\`, `a\b`, "two\nlines"} {
			if err := st.Write(context.Background(), []stream.Event{{Entity: id, Kind: `kind \`, Type: stream.TypeTelemetry,
				Time: t0, Values: map[string]float64{"salinity": 4.25, `field\`: 1}}}); err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{"salinity", `field\`} {
				got, err := st.Readings(context.Background(), stream.ReadingQuery{Entity: id, Field: field, From: t0, To: t0.Add(time.Second)})
				if err != nil || len(got) != 1 || !got[0].Time.Equal(t0) {
					t.Errorf("%q %q: readings = %v, %v", id, field, got, err)
				}
			}
		}
	})
}

// TestOutageLosesNothing kills influxd while writes go on, restarts it, and expects every point once.
func TestOutageLosesNothing(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, reg := open(t, srv, "", nil)
	ctx := context.Background()
	const per, batches = 300, 12 // 3,600 points
	n := 0
	write := func(k int) {
		for range k {
			if err := st.Write(ctx, batch(n, per, 50)); err != nil {
				t.Fatalf("write during the outage test: %v", err)
			}
			n += per
		}
	}
	write(4)
	srv.Kill()
	write(4) // InfluxDB is down: spooled
	if p := metric(t, reg, "ioc_influx_spool_points", nil); p != 4*per {
		t.Fatalf("spool holds %v points while InfluxDB is down, want %d", p, 4*per)
	}
	if err := st.Check(ctx); !errors.Is(err, stream.ErrDegraded) {
		t.Errorf("Check while InfluxDB is down and the spool has room = %v, want degraded", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	write(4) // behind the spool until it is replayed
	waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
	exactlyOnce(t, levels(t, srv), n)
	if r := metric(t, reg, "ioc_influx_replayed_points_total", nil); r < 4*per {
		t.Errorf("replayed %v points, want at least %d", r, 4*per)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check after recovery: %v", err)
	}
}

// TestSlowInfluxSpools: when InfluxDB does not answer within the timeout, Write spools instead of
// waiting, and the points arrive exactly once when it answers again.
func TestSlowInfluxSpools(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, reg := open(t, srv, "", func(c *influx.Config) { c.Timeout = time.Second })
	ctx := context.Background()
	if err := st.Write(ctx, batch(0, 500, 20)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	for i := 500; i < 2000; i += 500 {
		if err := st.Write(ctx, batch(i, 500, 20)); err != nil {
			t.Fatal(err)
		}
	}
	if p := metric(t, reg, "ioc_influx_spooled_points_total", nil); p != 1500 {
		t.Fatalf("%v points spooled while InfluxDB hangs, want 1500", p)
	}
	if e := metric(t, reg, "ioc_influx_write_errors_total", map[string]string{"path": "direct"}); e != 1 {
		t.Errorf("%v direct write errors, want 1 (the timed-out request; later writes go behind the spool)", e)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
	exactlyOnce(t, levels(t, srv), 2000)
}

// TestWrongDatabaseIsDegraded: an InfluxDB that answers pings but refuses the writes (no such database)
// keeps the points in the spool and makes Check report degraded with its reason; creating the database
// lets the spool drain.
func TestWrongDatabaseIsDegraded(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, reg := open(t, srv, "", func(c *influx.Config) { c.Bucket = "missing/autogen" })
	if err := st.Write(context.Background(), batch(0, 100, 10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed replay", func() bool {
		err := st.Check(context.Background())
		return errors.Is(err, stream.ErrDegraded) && strings.Contains(err.Error(), "database not found")
	})
	if p := metric(t, reg, "ioc_influx_spool_points", nil); p != 100 {
		t.Fatalf("%v points spooled, want 100", p)
	}
	if err := srv.Query(`CREATE DATABASE "missing"`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
	if err := st.Check(context.Background()); err != nil {
		t.Errorf("Check after the database was created: %v", err)
	}
}

// TestFieldConflictIsCounted: points InfluxDB refuses (a field written as a number, then as text) are
// dropped and counted by their number; the rest of the batch is stored and nothing is spooled.
func TestFieldConflictIsCounted(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, reg := open(t, srv, "", nil)
	cam := func(i int, zone any) stream.Event {
		ev := stream.Event{Entity: "cam-1", Kind: "camera", Type: stream.TypeCamera, Time: t0.Add(time.Duration(i) * time.Second),
			Values: map[string]float64{"score": 0.5}, Attrs: map[string]string{"label": "car"}}
		switch z := zone.(type) {
		case float64:
			ev.Values["zone"] = z
		case string:
			ev.Attrs["zone"] = z
		}
		return ev
	}
	if err := st.Write(context.Background(), []stream.Event{cam(0, 1.0)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(context.Background(), []stream.Event{cam(1, 2.0), cam(2, "gate"), cam(3, 3.0)}); err != nil {
		t.Fatal(err)
	}
	if d := metric(t, reg, "ioc_influx_dropped_points_total", map[string]string{"reason": "rejected"}); d != 1 {
		t.Errorf("%v points counted as rejected, want 1", d)
	}
	if p := metric(t, reg, "ioc_influx_spooled_points_total", nil); p != 0 {
		t.Errorf("%v points spooled, want 0 (a refusal is not an outage)", p)
	}
	if rows := selectRows(t, srv, `SELECT "zone" FROM "camera_events"`); len(rows) != 3 {
		t.Errorf("%d camera points stored, want the 3 without a conflict: %v", len(rows), rows)
	}
}

// TestSpoolSurvivesRestart: points spooled while InfluxDB is down survive closing and reopening the
// store, and are replayed in order (a later rewrite of the same point wins).
func TestSpoolSurvivesRestart(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	dir := t.TempDir()
	srv.Kill()
	st, _ := open(t, srv, dir, nil)
	ctx := context.Background()
	for i := 0; i < 2000; i += 500 {
		if err := st.Write(ctx, batch(i, 500, 20)); err != nil {
			t.Fatal(err)
		}
	}
	rewrite := reading(7, 20)
	rewrite.Values = map[string]float64{"level": 7, "rewritten": 1}
	if err := st.Write(ctx, []stream.Event{rewrite}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, reg := open(t, srv, dir, nil)
	if p := metric(t, reg, "ioc_influx_spool_points", nil); p != 2001 {
		t.Fatalf("reopened spool holds %v points, want 2001", p)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
	exactlyOnce(t, levels(t, srv), 2000)
	rows := selectRows(t, srv, `SELECT "rewritten" FROM "water_level"`)
	if len(rows) != 1 || rows[0]["rewritten"] != 1.0 {
		t.Fatalf("the later rewrite was not applied last: %v", rows)
	}
	_ = st
}

// TestSpoolFull fills a 1 MiB spool while InfluxDB is down, under each on_full policy.
func TestSpoolFull(t *testing.T) {
	t.Parallel() // each test has its own influxd
	tests := []struct {
		name   string
		onFull string
	}{
		{"block waits for room", influx.OnFullBlock},
		{"drop_oldest drops and counts", influx.OnFullDropOldest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := influxtest.Start(t)
			st, reg := open(t, srv, "", func(c *influx.Config) { c.Spool.MaxBytes, c.Spool.OnFull = 1<<20, tt.onFull })
			srv.Kill()
			const per, most = 2500, 40000 // 1 MiB holds about 14,000 points
			n := 0
			for n < most {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				err := st.Write(ctx, batch(n, per, 50))
				cancel()
				if err != nil {
					if tt.onFull == influx.OnFullBlock && errors.Is(err, influx.ErrSpoolFull) {
						break
					}
					t.Fatalf("write %d: %v", n, err)
				}
				n += per
			}
			if metric(t, reg, "ioc_influx_spool_full_total", nil) == 0 || metric(t, reg, "ioc_influx_spool_full", nil) != 1 {
				t.Error("spool full not counted or not raised")
			}
			if err := st.Check(context.Background()); err == nil || errors.Is(err, stream.ErrDegraded) {
				t.Errorf("Check with a full spool = %v, want not ready", err)
			}
			if b := metric(t, reg, "ioc_influx_spool_bytes", nil); b > 1<<20 {
				t.Errorf("spool holds %v bytes, over its 1 MiB bound", b)
			}
			dropped := int(metric(t, reg, "ioc_influx_dropped_points_total", map[string]string{"reason": "spool_full"}))
			if tt.onFull == influx.OnFullBlock {
				if n >= most || dropped != 0 {
					t.Fatalf("block: %d points accepted, %d dropped: want a refusal and no drop", n, dropped)
				}
				// A write waiting for room goes through once InfluxDB is back.
				done := make(chan error, 1)
				go func() { done <- st.Write(context.Background(), batch(n, per, 50)) }()
				time.Sleep(200 * time.Millisecond)
				select {
				case err := <-done:
					t.Fatalf("write returned %v while the spool was full", err)
				default:
				}
				if err := srv.Restart(); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				n += per
				waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
				exactlyOnce(t, levels(t, srv), n)
				return
			}
			if dropped == 0 {
				t.Fatal("drop_oldest: nothing dropped")
			}
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
			got := levels(t, srv)
			// Every point written is stored or counted as dropped, none twice.
			if len(got)+dropped != n {
				t.Fatalf("%d stored + %d dropped != %d written", len(got), dropped, n)
			}
			seen := map[int]bool{}
			for _, v := range got {
				if seen[v] {
					t.Fatalf("level %d stored twice", v)
				}
				seen[v] = true
			}
			// The oldest were dropped, the newest kept. 1 MiB holds about 14,000 points; what the last
			// write is sure to find kept is that less the chunk it appends (2,500 points), the segment a
			// replay attempt may hold at that moment (skipped by the drop, up to 1/8 of the spool, about
			// 1,750) and the whole segment the drop removes at its boundary (as much again): about 8,000.
			// So the newest three chunks (7,500) are all there; the dropped set is the oldest segments
			// but, because of the held one, not always a prefix.
			for v := n - 3*per; v < n; v++ {
				if !seen[v] {
					t.Fatalf("level %d of the newest %d was dropped; stored %d, dropped %d", v, 3*per, len(got), dropped)
				}
			}
			if seen[0] && seen[per] {
				t.Fatalf("the two oldest chunks are both stored: nothing old was dropped")
			}
		})
	}
}
