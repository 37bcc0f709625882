package simulate

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	mqttc "github.com/ioc-vn/ioc/collectors/mqtt"
)

const admin = "../../configs/admin/83.geojson"

func TestFleetIsInsideBenTreAndDeterministic(t *testing.T) {
	cfg := Config{Devices: 300, Seed: 83, AdminFile: admin}
	a, err := Fleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := loadDistricts(admin)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	districts := map[string]bool{}
	for i, d := range a {
		if d.ID != b[i].ID || d.Location[0] != b[i].Location[0] {
			t.Fatalf("fleet not deterministic at %d: %s vs %s", i, d.ID, b[i].ID)
		}
		p := orb.Point{d.Location[0], d.Location[1]}
		inside := false
		for _, dd := range ds {
			if dd.code == d.District && planar.MultiPolygonContains(dd.geom, p) {
				inside = true
			}
		}
		if !inside {
			t.Errorf("%s at %v is not inside its district %s", d.ID, p, d.District)
		}
		kinds[d.Kind]++
		districts[d.District] = true
	}
	for _, k := range []string{"salinity", "water_level", "air_quality", "rain", "traffic"} {
		if kinds[k] == 0 {
			t.Errorf("no %s devices", k)
		}
	}
	if len(districts) < 6 {
		t.Errorf("devices in only %d districts", len(districts))
	}
}

// TestMessagesDecode: every demo message decodes with ioc's own decoders into plausible values, and a
// day of readings has salinity breaches near the sea and none far upstream.
func TestMessagesDecode(t *testing.T) {
	fleet, err := Fleet(Config{Devices: 200, Seed: 7, AdminFile: admin})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	formats := map[string]string{"ioc/senml": mqttc.FormatSenML, "v1/gateway": mqttc.FormatThingsBoardGateway, "ioc/devices": mqttc.FormatThingsBoard}
	breach := map[bool]int{}
	for i := range fleet {
		d := &fleet[i]
		for h := 0; h < 24; h++ {
			at := start.Add(time.Duration(h) * time.Hour)
			topic, payload, err := Message(d, at, rng)
			if err != nil {
				t.Fatal(err)
			}
			var format string
			for prefix, f := range formats {
				if len(topic) >= len(prefix) && topic[:len(prefix)] == prefix {
					format = f
				}
			}
			dec, _ := mqttc.DecoderFor(format)
			device := ""
			if format != mqttc.FormatThingsBoardGateway {
				device = d.ID
			}
			evs, errs := dec(device, payload, at)
			if len(errs) > 0 || len(evs) != 1 {
				t.Fatalf("%s: %s decodes to %d events, errors %v", d.ID, payload, len(evs), errs)
			}
			ev := evs[0]
			if ev.Entity != d.ID || !ev.Time.Equal(at) || !ev.HasLocation || ev.Location[0] != d.Location[0] {
				t.Fatalf("%s: decoded %+v", d.ID, ev)
			}
			if s, ok := ev.Values["salinity"]; ok {
				if s < 0 || s > 20 {
					t.Fatalf("%s: salinity %v out of range", d.ID, s)
				}
				if s > 4 {
					breach[d.frac > 0.5]++
				}
			}
			if pm, ok := ev.Values["pm25"]; ok && (pm < 0 || pm > 200) {
				t.Fatalf("%s: pm25 %v out of range", d.ID, pm)
			}
		}
	}
	if breach[true] == 0 || breach[false] > breach[true] {
		t.Errorf("salinity breaches near the sea %d, upstream %d: want them mostly near the sea", breach[true], breach[false])
	}
}
