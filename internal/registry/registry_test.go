package registry

import (
	"context"
	"strings"
	"testing"
	"time"

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
