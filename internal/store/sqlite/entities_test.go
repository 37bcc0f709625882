package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/stream"
)

// BenchmarkWriteEntityState measures the store's part of ingest when InfluxDB keeps the history: one
// transaction of 2,000 telemetry events (the default pipeline.sink_batch), each updating the latest
// state of its device, for new devices (each event a new row) and known devices (ten events per
// device in the batch, rows already there). ns/op is per event.
func BenchmarkWriteEntityState(b *testing.B) {
	for _, mix := range []struct {
		name    string
		devices int
	}{{"new", 0}, {"known", 200}} {
		b.Run(mix.name, func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "ioc.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.KeepReadings(false)
			const batch = 2000
			events := make([]stream.Event, batch)
			t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for n := 0; n < b.N; n += batch {
				for i := range events {
					id := n + i
					if mix.devices > 0 {
						id %= mix.devices
					}
					events[i] = stream.Event{Entity: fmt.Sprintf("bt-%06d", id), Kind: "salinity", Type: stream.TypeTelemetry,
						Time: t0.Add(time.Duration(n+i) * time.Millisecond), Location: [2]float64{106.3 + float64(i)*1e-5, 10.2}, HasLocation: true,
						Values: map[string]float64{"salinity": float64(i%80) / 10, "water_level": 1.2},
						Areas:  map[string]string{"province": "83", "district": "829", "commune": "28756"}}
				}
				if err := s.Write(context.Background(), events); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, unlike ns/op, hardly depends on what else the machine runs (the process does
			// only this while it runs; the events are built in the loop and counted too).
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu_ns/event")
		})
	}
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestJSONMapsMatchEncodingJSON checks the entity state's map encoders against encoding/json: the
// same object for plain maps, and encoding/json's own text where escaping or non-finite numbers
// are involved.
func TestJSONMapsMatchEncodingJSON(t *testing.T) {
	floats := []map[string]float64{nil, {}, {"salinity": 4.2}, {"b": -1e-7, "a": 1e21, "c": 0, "d": 123456789.125},
		{"nan": math.NaN()}, {"inf": math.Inf(1)}, {`q"uote`: 1}, {"mực_nước": 1.5}}
	for _, m := range floats {
		_, got := jsonFloats(nil, m)
		want := jsonText(m)
		if !sameJSON(t, got, want) {
			t.Errorf("jsonFloats(%v) = %s, want %s", m, got, want)
		}
	}
	strs := []map[string]string{nil, {"district": "829", "province": "83"}, {"name": "Trạm Bến Tre"}, {"x": `a"b`}, {"x": `a\b`},
		{"x": "line\nbreak"}, {"x": "\xff\xfe"}, {"x": "<img src=x>&"}, {"x": "\u2028"}}
	for _, m := range strs {
		_, got := jsonStrings(nil, m)
		want := jsonText(m)
		if !sameJSON(t, got, want) {
			t.Errorf("jsonStrings(%q) = %s, want %s", m, got, want)
		}
	}
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// TestEntityStateInChunks writes more entities than one upsert statement carries, with a second batch
// that updates some of them with newer, older and partial states: every row ends as one upsert per
// event in order would leave it.
func TestEntityStateInChunks(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "ioc.db"))
	s.KeepReadings(false)
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	n := 3*entityChunk + 5
	var first []stream.Event
	for i := range n {
		first = append(first, stream.Event{Entity: fmt.Sprintf("e-%03d", i), Kind: "salinity", Type: stream.TypeTelemetry, Time: t0,
			Location: [2]float64{106, 10}, HasLocation: true, Values: map[string]float64{"salinity": float64(i), "temp": 27},
			Attrs: map[string]string{"fw": "1"}, Areas: map[string]string{"district": "829"}})
	}
	if err := s.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := []stream.Event{
		{Entity: "e-000", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(time.Second), Values: map[string]float64{"salinity": 100}}, // newer, partial
		{Entity: "e-001", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(-time.Second), Values: map[string]float64{"salinity": -1}}, // older: ignored
		{Entity: "e-002", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(time.Second), Values: map[string]float64{"salinity": 5},
			Location: [2]float64{107, 11}, HasLocation: true, Areas: map[string]string{"district": "831"}, Attrs: map[string]string{"note": `say "hi"`}},
		{Entity: "e-002", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(2 * time.Second), Values: map[string]float64{"salinity": 6}}, // newest of the batch
		{Entity: "new", Kind: "rain", Type: stream.TypeTelemetry, Time: t0, Values: map[string]float64{"rain_mm": 1}},
	}
	if err := s.Write(ctx, second); err != nil {
		t.Fatal(err)
	}
	es, err := s.Entities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]registry.Entity{}
	for _, e := range es {
		got[e.ID] = e
	}
	if len(got) != n+1 {
		t.Fatalf("%d entities, want %d", len(got), n+1)
	}
	for i := 3; i < n; i++ {
		e := got[fmt.Sprintf("e-%03d", i)]
		if e.Values["salinity"] != float64(i) || e.Areas["district"] != "829" || !e.HasLocation {
			t.Fatalf("e-%03d = %+v", i, e)
		}
	}
	checks := []struct {
		id     string
		values map[string]float64
		ts     time.Time
		loc    [2]float64
		area   string
	}{
		{"e-000", map[string]float64{"salinity": 100, "temp": 27}, t0.Add(time.Second), [2]float64{106, 10}, "829"},
		{"e-001", map[string]float64{"salinity": 1, "temp": 27}, t0, [2]float64{106, 10}, "829"},
		{"e-002", map[string]float64{"salinity": 6, "temp": 27}, t0.Add(2 * time.Second), [2]float64{106, 10}, "829"},
		{"new", map[string]float64{"rain_mm": 1}, t0, [2]float64{}, ""},
	}
	for _, c := range checks {
		e := got[c.id]
		if !reflect.DeepEqual(e.Values, c.values) || !e.Time.Equal(c.ts) || e.Location != c.loc || e.Areas["district"] != c.area {
			t.Errorf("%s = values %v at %v, location %v, areas %v; want %v at %v, %v, %q", c.id, e.Values, e.Time, e.Location, e.Areas, c.values, c.ts, c.loc, c.area)
		}
	}
}
