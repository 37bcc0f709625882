package registry

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/stream"
)

func TestLoadDevices(t *testing.T) {
	r := New(true, nil)
	if err := r.LoadDevices("testdata/devices.yaml"); err != nil {
		t.Fatal(err)
	}
	e, ok := r.Get("wl-ham-luong-1")
	if !ok || !e.Registered || e.Kind != "water_level" || e.Location[0] != 106.37 || e.Meta["alert_1"] != "1.6" {
		t.Fatalf("device = %+v", e)
	}
	err := New(true, nil).LoadDevices("testdata/bad.yaml")
	if err == nil {
		t.Fatal("bad devices file accepted")
	}
	for _, want := range []string{"devices[0] (a): location", "devices[1] (): id: must be set", "devices[2]: duplicate id \"a\"", "devices[3] (c): kind: must be set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestProcessAndWrite(t *testing.T) {
	var published []Entity
	r := New(true, func(es []Entity) { published = append(published, es...) })
	r.Register(Device{ID: "known", Kind: "salinity", Location: []float64{106.5, 10.1}})
	now := time.Now()
	tests := []struct {
		name       string
		ev         stream.Event
		kind       string
		registered bool
		loc        [2]float64
	}{
		{"known device gets kind and location", stream.Event{Entity: "known", Type: stream.TypeTelemetry, Time: now, Values: map[string]float64{"salinity": 3}},
			"salinity", true, [2]float64{106.5, 10.1}},
		{"unknown device inferred and flagged", stream.Event{Entity: "new", Type: stream.TypeTelemetry, Time: now, Values: map[string]float64{"pm25": 3},
			Location: [2]float64{106.2, 10.3}, HasLocation: true}, "air_quality", false, [2]float64{106.2, 10.3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.ev
			if err := r.Process(context.Background(), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tt.kind || !ev.HasLocation || ev.Location != tt.loc {
				t.Fatalf("event = %+v", ev)
			}
			e, _ := r.Get(ev.Entity)
			if e.Registered != tt.registered {
				t.Fatalf("registered = %v", e.Registered)
			}
		})
	}
	// Latest state: newer values merge, an older event never rolls back.
	ev := func(v float64, at time.Time) stream.Event {
		return stream.Event{Entity: "known", Kind: "salinity", Type: stream.TypeTelemetry, Time: at, Values: map[string]float64{"salinity": v}}
	}
	if err := r.Write(context.Background(), []stream.Event{ev(5, now), ev(1, now.Add(-time.Minute))}); err != nil {
		t.Fatal(err)
	}
	e, _ := r.Get("known")
	if e.Values["salinity"] != 5 || !e.Time.Equal(now) {
		t.Fatalf("latest = %v at %v, want 5 at %v", e.Values, e.Time, now)
	}
	if len(published) != 1 || published[0].Values["salinity"] != 5 {
		t.Fatalf("published %+v", published)
	}
	strict := New(false, nil)
	if err := strict.Process(context.Background(), &stream.Event{Entity: "x", Type: stream.TypeTelemetry}); stream.ReasonOf(err) != "unknown_device" {
		t.Fatalf("auto_register off: err = %v", err)
	}
}

func TestAutoRegistrationLimits(t *testing.T) {
	tele := func(id, source string) *stream.Event {
		return &stream.Event{Entity: id, Type: stream.TypeTelemetry, Source: source, Time: time.Now(), Values: map[string]float64{"salinity": 1}}
	}
	tests := []struct {
		name   string
		limits Limits
		before []*stream.Event // processed first, each must pass
		ev     *stream.Event
		reason string // "" accepted
	}{
		{name: "Vietnamese letters in id", limits: Limits{MaxIDLength: 128}, ev: tele("trạm-1", "a"), reason: ReasonIDCharset},
		{name: "markup in id", limits: Limits{MaxIDLength: 128}, ev: tele("trạm-<img src=x>", "a"), reason: ReasonIDCharset},
		{name: "space in id", limits: Limits{MaxIDLength: 128}, ev: tele("bt 1", "a"), reason: ReasonIDCharset},
		{name: "every allowed character", limits: Limits{MaxIDLength: 128}, ev: tele("Bt-09_x.y:Z", "a")},
		{name: "id at the length limit", limits: Limits{MaxIDLength: 8}, ev: tele("abcdefgh", "a")},
		{name: "id over the length limit", limits: Limits{MaxIDLength: 8}, ev: tele("abcdefghi", "a"), reason: ReasonIDTooLong},
		{name: "60,000-character id", limits: Limits{MaxIDLength: 128}, ev: tele(strings.Repeat("a", 60000), "a"), reason: ReasonIDTooLong},
		{name: "total cap", limits: Limits{MaxAuto: 2}, before: []*stream.Event{tele("a1", "a"), tele("b1", "b")}, ev: tele("c1", "c"), reason: ReasonCapTotal},
		{name: "per-source cap", limits: Limits{MaxAutoPerSource: 2}, before: []*stream.Event{tele("a1", "a"), tele("a2", "a")}, ev: tele("a3", "a"), reason: ReasonCapPerSource},
		{name: "per-source cap leaves other sources", limits: Limits{MaxAutoPerSource: 2}, before: []*stream.Event{tele("a1", "a"), tele("a2", "a")}, ev: tele("b1", "b")},
		{name: "known device past the caps", limits: Limits{MaxAuto: 1, MaxAutoPerSource: 1}, before: []*stream.Event{tele("a1", "a")}, ev: tele("a1", "a")},
		{name: "listed device past the caps", limits: Limits{MaxAuto: 1, MaxAutoPerSource: 1, MaxIDLength: 4}, before: []*stream.Event{tele("a1", "a")}, ev: tele("listed-with-a-long-id", "a")},
		{name: "camera events are not telemetry devices", limits: Limits{MaxAuto: 1}, before: []*stream.Event{tele("a1", "a")},
			ev: &stream.Event{Entity: "cam-1", Type: stream.TypeCamera, Source: "frigate", Time: time.Now()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(true, nil)
			r.SetLimits(tt.limits)
			r.Register(Device{ID: "listed-with-a-long-id", Kind: "salinity"})
			for _, ev := range tt.before {
				if err := r.Process(context.Background(), ev); err != nil {
					t.Fatalf("%s: %v", ev.Entity, err)
				}
			}
			n := r.Len()
			err := r.Process(context.Background(), tt.ev)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if got := stream.ReasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
			if len(err.Error()) > 300 {
				t.Errorf("the rejection quotes the whole id (%d bytes)", len(err.Error()))
			}
			if r.Len() != n {
				t.Errorf("a refused device was registered: %d entities, want %d", r.Len(), n)
			}
			if got := testutil.ToFloat64(r.refused.WithLabelValues(tt.reason)); got != 1 {
				t.Errorf("ioc_registry_refused_total{reason=%q} = %v, want 1", tt.reason, got)
			}
		})
	}
}

func TestAutoRegisteredCount(t *testing.T) {
	r := New(true, nil)
	r.SetLimits(Limits{MaxAuto: 2})
	r.Restore([]Entity{{ID: "old", Type: stream.TypeTelemetry, Kind: "salinity"}}) // auto-registered in an earlier run
	if err := r.Process(context.Background(), &stream.Event{Entity: "new", Type: stream.TypeTelemetry, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := r.Process(context.Background(), &stream.Event{Entity: "third", Type: stream.TypeTelemetry, Time: time.Now()}); stream.ReasonOf(err) != ReasonCapTotal {
		t.Fatalf("restored devices do not count: err = %v", err)
	}
	r.Register(Device{ID: "old", Kind: "salinity"}) // now listed: it frees a place
	if err := r.Process(context.Background(), &stream.Event{Entity: "third", Type: stream.TypeTelemetry, Time: time.Now()}); err != nil {
		t.Fatalf("after listing a device: %v", err)
	}
	if got := testutil.ToFloat64(r.autoGauge); got != 2 {
		t.Fatalf("ioc_registry_auto_registered = %v, want 2", got)
	}
}

func TestWriteMergesPartialStates(t *testing.T) {
	r := New(true, nil)
	at := time.Now()
	write := func(v map[string]float64) {
		t.Helper()
		at = at.Add(time.Second)
		if err := r.Write(context.Background(), []stream.Event{{Entity: "d", Type: stream.TypeTelemetry, Time: at, Values: v}}); err != nil {
			t.Fatal(err)
		}
	}
	full := map[string]float64{"salinity": 1, "water_level": 2}
	write(full)
	write(map[string]float64{"salinity": 3}) // partial: merged into a new map
	if e, _ := r.Get("d"); e.Values["salinity"] != 3 || e.Values["water_level"] != 2 {
		t.Fatalf("after a partial reading: %v", e.Values)
	}
	if full["salinity"] != 1 {
		t.Fatalf("the merge changed an earlier event's map: %v", full)
	}
	write(map[string]float64{"salinity": 4, "water_level": 5, "temperature": 28}) // covers every field: taken as it is
	if e, _ := r.Get("d"); len(e.Values) != 3 || e.Values["salinity"] != 4 || e.Values["temperature"] != 28 {
		t.Fatalf("after a full reading: %v", e.Values)
	}
}

// BenchmarkWrite merges batches of 500 readings into the latest state of 10,000 known devices (each
// reading carries the device's usual fields): per reading, what the state sink costs and allocates.
func BenchmarkWrite(b *testing.B) {
	r := New(true, nil)
	const devices, batch = 10_000, 500
	at := time.Now()
	events := make([]stream.Event, batch)
	b.ReportAllocs()
	for n := 0; n < b.N; n += batch {
		for i := range events {
			events[i] = stream.Event{Entity: "bt-" + strconv.Itoa((n+i)%devices), Type: stream.TypeTelemetry, Kind: "salinity",
				Time: at.Add(time.Duration(n+i) * time.Millisecond), Values: map[string]float64{"salinity": 4, "water_level": 1.2}}
		}
		if err := r.Write(context.Background(), events); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRelabel: after a boundary reload every located entity gets its new areas, only the changed ones
// are published, and entities without a location are left alone.
func TestRelabel(t *testing.T) {
	var published []Entity
	r := New(true, func(es []Entity) { published = append(published, es...) })
	r.Register(Device{ID: "a", Kind: "salinity", Location: []float64{106.3759, 10.2415}})
	r.Register(Device{ID: "b", Kind: "salinity", Location: []float64{106.5939, 10.0431}})
	r.Register(Device{ID: "c", Kind: "salinity"})
	n := r.Relabel(func(e Entity) map[string]string {
		if e.ID == "a" {
			return map[string]string{"province": "86", "commune": "28777"}
		}
		return e.Areas // b: unchanged
	})
	a, _ := r.Get("a")
	if n != 1 || len(published) != 1 || published[0].ID != "a" || a.Areas["commune"] != "28777" {
		t.Fatalf("relabelled %d, published %v, a's areas %v", n, published, a.Areas)
	}
	if c, _ := r.Get("c"); c.Areas != nil {
		t.Fatalf("entity without a location got areas %v", c.Areas)
	}
}
