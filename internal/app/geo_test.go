package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/stream"
)

// TestGeoEndToEnd runs telemetry through the real pipeline: events are tagged with their district
// before the alarm rules see them (a rule scoped to one district fires only there), the registry
// keeps the areas, a geofence reports a boat entering, a viewport subscriber sees only its district,
// and reloading the areas keeps the websocket connection and the event flow.
func TestGeoEndToEnd(t *testing.T) {
	cfg := testConfig(t)
	rules := `
rules:
  - id: salinity-city
    name: "Mặn vượt 4‰ ở TP Bến Tre"
    severity: major
    scope: {kinds: [salinity], areas: ["829"]}
    when: {threshold: {field: salinity, op: ">", value: 4, clear: 3.5}}
`
	if err := yaml.Unmarshal([]byte(rules), &cfg.Alarm); err != nil {
		t.Fatal(err)
	}
	cfg.Geo.Geofences = []config.Geofence{{ID: "ben-ba-tri", Name: "Bến cá Ba Tri",
		Polygon: [][2]float64{{106.58, 10.03}, {106.61, 10.03}, {106.61, 10.06}, {106.58, 10.06}, {106.58, 10.03}}}}
	a := startApp(t, cfg)

	live := dialLive(t, a.HTTP.Addr())
	if err := live.conn.WriteMessage(websocket.TextMessage,
		[]byte(`{"type":"subscribe","bbox":[106.30,10.20,106.45,10.30],"zoom":14}`)); err != nil {
		t.Fatal(err)
	}
	waitFrame := func(what string, ok func(dashboard.Frame) bool) dashboard.Frame {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case f, open := <-live.items:
				if !open {
					t.Fatalf("live connection closed while waiting for %s", what)
				}
				if ok(f) {
					return f
				}
			case <-timeout:
				t.Fatalf("no %s within 10s", what)
			}
		}
	}
	waitFrame("viewport snapshot", func(f dashboard.Frame) bool { return f.Type == "snapshot" && f.Mode == "items" })

	pub := publisher(t, a.Broker.URL(), "geo-pub")
	publish(t, pub, "ioc/devices/sal-ba-tri/telemetry", `{"salinity": 6.0, "lon": 106.5939, "lat": 10.0431}`)
	publish(t, pub, "ioc/devices/sal-city/telemetry", `{"salinity": 5.2, "lon": 106.3759, "lat": 10.2415}`)

	f := waitFrame("sal-city update", func(f dashboard.Frame) bool { return f.Type == "update" && len(f.Items) > 0 })
	for _, it := range f.Items {
		if it.ID == "sal-ba-tri" {
			t.Fatalf("Ba Tri sensor sent to a viewport over the city")
		}
	}
	waitFor(t, 10*time.Second, "registry areas", func() bool {
		e, ok := a.Registry.Get("sal-city")
		b, ok2 := a.Registry.Get("sal-ba-tri")
		return ok && ok2 && e.Areas["district"] == "829" && e.Areas["province"] == "83" && b.Areas["district"] == "836"
	})
	alarmOf := func(source string) bool {
		for _, e := range a.Registry.List(stream.TypeAlarm) {
			if e.Attrs["source"] == source {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, "alarm for the city sensor", func() bool { return alarmOf("sal-city") })

	// The boat enters the Ba Tri fence.
	publish(t, pub, "ioc/devices/boat-7/telemetry", `{"speed": 3, "lon": 106.70, "lat": 10.04}`)
	publish(t, pub, "ioc/devices/boat-7/telemetry", `{"speed": 2, "lon": 106.595, "lat": 10.045}`)
	waitFor(t, 10*time.Second, "geofence enter", func() bool {
		e, ok := a.Registry.Get("geofence:ben-ba-tri")
		return ok && e.Type == stream.TypeGeofence && e.Attrs["detect"] == "enter" && e.Attrs["object"] == "boat-7" &&
			e.Areas["district"] == "836"
	})
	if alarmOf("sal-ba-tri") {
		t.Fatalf("the city-scoped rule fired for Ba Tri: areas did not reach the rules")
	}

	// Reload: same connection, events keep flowing.
	if err := a.ReloadAreas(); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "ioc/devices/sal-city/telemetry", `{"salinity": 5.5}`)
	waitFrame("update after reload", func(f dashboard.Frame) bool {
		for _, it := range f.Items {
			if it.ID == "sal-city" && it.Values["salinity"] == 5.5 && it.Areas["district"] == "829" {
				return true
			}
		}
		return false
	})
}

// TestReloadBoundarySetsRelabelsLive: reloading from one set to the demo's dated sets re-enriches the
// live entities at once (no new reading needed), and a reload refused for a bad crosswalk keeps the sets
// in force and the entities' codes.
func TestReloadBoundarySetsRelabelsLive(t *testing.T) {
	cfg := testConfig(t)
	a := startApp(t, cfg)
	pub := publisher(t, a.Broker.URL(), "sets-pub")
	publish(t, pub, "ioc/devices/sal-city/telemetry", `{"salinity": 5.2, "lon": 106.3759, "lat": 10.2415}`)
	waitFor(t, 10*time.Second, "old district", func() bool {
		e, ok := a.Registry.Get("sal-city")
		return ok && e.Areas["district"] == "829"
	})

	reform := time.Date(2025, 7, 1, 0, 0, 0, 0, time.FixedZone("", 7*3600))
	dir := t.TempDir()
	a.cfg.Geo.AdminFiles = nil
	a.cfg.Geo.BoundarySets = []config.BoundarySet{
		{Name: "ben-tre-2024", Files: []string{"../../configs/admin/83.geojson"}, EffectiveTo: reform},
		{Name: "vinh-long-2025", Files: []string{"../../configs/admin/86-2025.geojson"}, EffectiveFrom: reform,
			Crosswalk: "../../configs/admin/crosswalk-2025-86.csv"},
	}
	if err := a.ReloadAreas(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new commune without a new reading", func() bool {
		e, ok := a.Registry.Get("sal-city")
		return ok && e.Areas["commune"] == "28777" && e.Areas["province"] == "86" && e.Areas["district"] == ""
	})
	inForce := a.Geo.Sets()

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("old_province,old_district,old_commune,new_province,new_commune\n83,829,28756,86,99999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cfg.Geo.BoundarySets[1].Crosswalk = bad
	err := a.ReloadAreas()
	if err == nil || !strings.Contains(err.Error(), "bad.csv: line 2: new_commune 99999") {
		t.Fatalf("reload with a bad crosswalk: %v", err)
	}
	if a.Geo.Sets() != inForce {
		t.Fatal("a refused reload replaced the sets in force")
	}
	if e, _ := a.Registry.Get("sal-city"); e.Areas["commune"] != "28777" {
		t.Fatalf("a refused reload changed the live codes: %v", e.Areas)
	}
}
