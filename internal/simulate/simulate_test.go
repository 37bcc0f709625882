package simulate

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	mqttc "github.com/ioc-vn/ioc/collectors/mqtt"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/stream"
)

const admin = "../../configs/admin/86-2025.geojson"

// TestFleetCoversTheNewProvince: every device lies inside the commune it names (as enrichment finds
// it), the fleet spreads over the whole new Tỉnh Vĩnh Long (the former Bến Tre, Trà Vinh and Vĩnh
// Long parts), every river has stations, and the same seed gives the same fleet.
func TestFleetCoversTheNewProvince(t *testing.T) {
	cfg := Config{Devices: 300, Seed: 83, AdminFile: admin}
	a, err := Fleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Fleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	areas, err := geo.Load(admin)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	communes := map[string]bool{}
	rivers := map[string]int{}
	var west, south bool // the former Vĩnh Long (west of 106.1°) and Trà Vinh (south of 9.9°) parts
	for i, d := range a {
		if d.ID != b[i].ID || d.Location[0] != b[i].Location[0] {
			t.Fatalf("fleet not deterministic at %d: %s vs %s", i, d.ID, b[i].ID)
		}
		p := orb.Point{d.Location[0], d.Location[1]}
		if got := areas.Codes(p)["commune"]; got != d.Area || d.Metadata["area_level"] != "commune" {
			t.Errorf("%s at %v: enrichment finds commune %q, the device says %q (%s)", d.ID, p, got, d.Area, d.Metadata["area_level"])
		}
		kinds[d.Kind]++
		communes[d.Area] = true
		if r := d.Metadata["river"]; r != "" {
			rivers[r]++
		}
		west = west || p[0] < 106.1
		south = south || p[1] < 9.9
	}
	for _, k := range []string{"salinity", "water_level", "air_quality", "rain", "traffic"} {
		if kinds[k] == 0 {
			t.Errorf("no %s devices", k)
		}
	}
	for _, r := range []string{"Cổ Chiên", "Hàm Luông", "Ba Lai", "Cửa Đại", "Hậu"} {
		if rivers[r] < 3 {
			t.Errorf("%d stations on the %s", rivers[r], r)
		}
	}
	if len(communes) < 60 || !west || !south {
		t.Errorf("devices in %d communes (west part %v, south part %v): the fleet does not cover the province", len(communes), west, south)
	}
	cams, err := CameraSites(Config{Seed: 83, AdminFile: admin, Cameras: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cams {
		if areas.Codes(orb.Point{c.Location[0], c.Location[1]})["commune"] == stream.AreaOutside {
			t.Errorf("camera %s at %v is in no commune", c.ID, c.Location)
		}
	}
}

// TestHistorySpansTheReform: the history the feed publishes first has readings of every device before
// and after 1 July 2025, oldest first.
func TestHistorySpansTheReform(t *testing.T) {
	fleet, err := Fleet(Config{Devices: 20, Seed: 1, AdminFile: admin})
	if err != nil {
		t.Fatal(err)
	}
	ict := time.FixedZone("", 7*3600)
	reform := time.Date(2025, 7, 1, 0, 0, 0, 0, ict)
	before, after := map[string]bool{}, map[string]bool{}
	var last time.Time
	n, err := History(fleet, reform.AddDate(0, -1, 0), 7*24*time.Hour, reform.AddDate(0, 1, 0), rand.New(rand.NewPCG(1, 1)),
		func(topic string, payload []byte) error {
			evs, err := decodeAny(topic, payload)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				if ev.Time.Before(last) {
					t.Fatalf("history goes back in time: %s after %s", ev.Time, last)
				}
				last = ev.Time
				if ev.Time.Before(reform) {
					before[ev.Entity] = true
				} else {
					after[ev.Entity] = true
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if n != 20*9 || len(before) != 20 || len(after) != 20 {
		t.Fatalf("%d readings; %d devices before the reform, %d after", n, len(before), len(after))
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
	breach := map[bool]int{}
	for i := range fleet {
		d := &fleet[i]
		for h := 0; h < 24; h++ {
			at := start.Add(time.Duration(h) * time.Hour)
			topic, payload, err := Message(d, at, rng)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeAny(topic, payload)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s: %s decodes to %d events, error %v", d.ID, payload, len(evs), err)
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

// decodeAny decodes a demo message with ioc's decoder for its topic.
func decodeAny(topic string, payload []byte) ([]stream.Event, error) {
	format, device := "", ""
	switch parts := strings.Split(topic, "/"); {
	case strings.HasPrefix(topic, "ioc/senml/"):
		format, device = mqttc.FormatSenML, parts[2]
	case strings.HasPrefix(topic, "ioc/devices/"):
		format, device = mqttc.FormatThingsBoard, parts[2]
	case topic == "v1/gateway/telemetry":
		format = mqttc.FormatThingsBoardGateway
	default:
		return nil, fmt.Errorf("unknown topic %s", topic)
	}
	dec, ok := mqttc.DecoderFor(format)
	if !ok {
		return nil, fmt.Errorf("no decoder for %s", format)
	}
	evs, errs := dec(device, payload, time.Now())
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return evs, nil
}
