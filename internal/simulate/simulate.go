// Package simulate is ioc's demo feed: realistic telemetry for the new Tỉnh Vĩnh Long (86: the former
// Bến Tre, Trà Vinh and Vĩnh Long). Salinity and water-level stations sit along the Mekong branches
// (Cửa Đại, Ba Lai, Hàm Luông, Cổ Chiên, Hậu) with semidiurnal tides and salinity rising toward the
// sea; PM2.5 monitors follow the daily traffic peaks; rain gauges get passing showers; traffic counters
// count vehicles. Every device is placed inside a unit of the finest level of the boundary file (its
// communes; levels and unit types come from the data), found with the same lookup enrichment uses. A
// history of readings reaching back before the 2025 reform is published first. Messages go over MQTT in the three formats ioc reads
// (ThingsBoard device JSON, ThingsBoard gateway JSON, SenML), so the demo exercises the real path.
package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/collectors/frigate"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/registry"
)

// Config configures the simulator.
type Config struct {
	Broker    string        // tcp://host:port
	ClientID  string        // MQTT client id
	Devices   int           // how many devices
	Interval  time.Duration // time between two readings of one device
	Seed      int64         // same seed, same devices
	AdminFile string        // GeoJSON of the province and its units (configs/admin/86-2025.geojson)
	Cameras   int           // Frigate cameras publishing detections on frigate/events (0: none)
	// HistoryFrom, when set, makes Run first publish one reading per device every HistoryStep from
	// then until now (oldest first), so that statistics reach back across boundary changes.
	HistoryFrom time.Time
	HistoryStep time.Duration
}

// Device is one simulated device.
type Device struct {
	registry.Device
	Area  string  // code of the finest-level unit holding it
	river int     // river index for stations
	frac  float64 // 0 upstream … 1 at the river mouth
	phase float64
	urban bool
}

// units are the areas of the boundary file's finest level, to place devices in.
type units struct {
	areas  *geo.Areas
	level  string
	leaves []*geo.Area
}

func loadUnits(path string) (*units, error) {
	areas, err := geo.Load(path)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	levels := areas.Levels()
	u := &units{areas: areas, level: levels[len(levels)-1]}
	u.leaves = areas.List(u.level)
	return u, nil
}

// locate returns the finest-level unit holding p, as enrichment would answer, or nil.
func (u *units) locate(p orb.Point) *geo.Area {
	found := u.areas.Locate(p, nil)
	return found[len(found)-1]
}

// random returns a random point inside a random unit (urban: a ward, Phường, when there are any).
func (u *units) random(rng *rand.Rand, urban bool) (orb.Point, *geo.Area) {
	for {
		a := u.leaves[rng.IntN(len(u.leaves))]
		if urban && a.Type != "Phường" && rng.IntN(20) > 0 {
			continue
		}
		p := orb.Point{a.Bound.Min[0] + rng.Float64()*(a.Bound.Max[0]-a.Bound.Min[0]),
			a.Bound.Min[1] + rng.Float64()*(a.Bound.Max[1]-a.Bound.Min[1])}
		if got := u.locate(p); got != nil {
			return p, got
		}
	}
}

// rivers are the branches of the Mekong through the province, from upstream (west) to the sea (east),
// as [lon, lat] polylines (approximate courses).
var rivers = []struct {
	name string
	line orb.LineString
}{
	{"Cửa Đại", orb.LineString{{106.27, 10.33}, {106.38, 10.31}, {106.52, 10.28}, {106.63, 10.25}, {106.74, 10.20}}},
	{"Ba Lai", orb.LineString{{106.35, 10.27}, {106.45, 10.22}, {106.55, 10.16}, {106.64, 10.08}}},
	{"Hàm Luông", orb.LineString{{106.22, 10.21}, {106.36, 10.17}, {106.46, 10.10}, {106.56, 10.02}, {106.66, 9.93}}},
	{"Cổ Chiên", orb.LineString{{105.97, 10.27}, {106.12, 10.18}, {106.26, 10.06}, {106.38, 9.96}, {106.50, 9.86}, {106.58, 9.81}}},
	{"Hậu", orb.LineString{{105.86, 10.02}, {105.95, 9.95}, {106.05, 9.86}, {106.15, 9.77}, {106.25, 9.66}, {106.33, 9.57}}},
}

// Kinds of simulated devices and their share of the fleet.
var kindShare = []struct {
	kind  string
	share float64
}{{"salinity", 0.2}, {"water_level", 0.15}, {"air_quality", 0.25}, {"rain", 0.2}, {"traffic", 0.2}}

var kindName = map[string]string{
	"salinity": "Trạm đo mặn", "water_level": "Trạm mực nước", "air_quality": "Trạm quan trắc không khí",
	"rain": "Trạm đo mưa", "traffic": "Bộ đếm phương tiện",
}

// Fleet builds the deterministic device list for cfg.
func Fleet(cfg Config) ([]Device, error) {
	u, err := loadUnits(cfg.AdminFile)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x86))
	var out []Device
	for i := 0; i < cfg.Devices; i++ {
		kind := pickKind(float64(i) / float64(cfg.Devices))
		d := Device{phase: rng.Float64() * 2 * math.Pi}
		d.ID = fmt.Sprintf("vl-%s-%03d", short(kind), i)
		d.Kind = kind
		var p orb.Point
		var unit *geo.Area
		if kind == "salinity" || kind == "water_level" {
			d.river = i % len(rivers) // every river gets stations
			for tries := 0; unit == nil; tries++ {
				if tries > 2000 {
					return nil, fmt.Errorf("simulate: could not place station %s on the %s inside a unit of %s", d.ID, rivers[d.river].name, cfg.AdminFile)
				}
				d.frac = rng.Float64()
				p = along(rivers[d.river].line, d.frac)
				p[0] += (rng.Float64() - 0.5) * 0.01
				p[1] += (rng.Float64() - 0.5) * 0.01
				unit = u.locate(p)
			}
		} else {
			p, unit = u.random(rng, kind == "air_quality" || kind == "traffic")
		}
		d.Area = unit.Code
		d.urban = unit.Type == "Phường"
		d.Location = []float64{round6(p[0]), round6(p[1])}
		d.Name = fmt.Sprintf("%s %s %d", kindName[kind], unit.Name, i)
		d.Metadata = map[string]string{"area": unit.Code, "area_level": unit.Level, "simulated": "true"}
		if kind == "salinity" || kind == "water_level" {
			d.Name = fmt.Sprintf("%s sông %s, %s %d", kindName[kind], rivers[d.river].name, unit.Name, i)
			d.Metadata["river"] = rivers[d.river].name
		}
		if kind == "water_level" {
			// Alert levels I/II/III in metres (station datum).
			d.Metadata["alert_level_1"], d.Metadata["alert_level_2"], d.Metadata["alert_level_3"] = "1.6", "1.8", "2.0"
		}
		out = append(out, d)
	}
	return out, nil
}

func pickKind(f float64) string {
	acc := 0.0
	for _, ks := range kindShare {
		acc += ks.share
		if f < acc {
			return ks.kind
		}
	}
	return kindShare[len(kindShare)-1].kind
}

func short(kind string) string {
	return map[string]string{"salinity": "sal", "water_level": "wl", "air_quality": "aq", "rain": "rain", "traffic": "trf"}[kind]
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// CameraSites places the demo Frigate cameras (cam_001 …) at crowded places: inside the province's
// units, mostly its wards (Phường).
func CameraSites(cfg Config) ([]camera.Config, error) {
	u, err := loadUnits(cfg.AdminFile)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xca))
	var out []camera.Config
	for _, name := range frigate.NewSimulator("frigate", cfg.Cameras, uint64(cfg.Seed)).Cameras() {
		p, unit := u.random(rng, len(out)%3 != 2)
		out = append(out, camera.Config{ID: "vl-" + strings.ReplaceAll(name, "_", "-"),
			Name:     fmt.Sprintf("Camera AI %s %s", unit.Name, name),
			Location: [2]float64{round6(p[0]), round6(p[1])}, Heading: float64(rng.IntN(360)), FOV: 90,
			Source: camera.SourceConfig{Kind: "frigate", Name: name}})
	}
	return out, nil
}

// along returns the point at fraction f of a polyline's vertices.
func along(l orb.LineString, f float64) orb.Point {
	x := f * float64(len(l)-1)
	i := min(int(x), len(l)-2)
	t := x - float64(i)
	return orb.Point{l[i][0] + t*(l[i+1][0]-l[i][0]), l[i][1] + t*(l[i+1][1]-l[i][1])}
}

const tide = 12.42 * float64(time.Hour) // semidiurnal lunar period

// Values returns a device's readings at time t; rng adds noise.
func (d *Device) Values(t time.Time, rng *rand.Rand) map[string]float64 {
	local := t.In(time.FixedZone("ICT", 7*3600))
	hour := float64(local.Hour()) + float64(local.Minute())/60
	tidal := math.Cos(2*math.Pi*float64(t.UnixNano())/tide + d.phase*0.2)
	spring := 1 + 0.3*math.Cos(2*math.Pi*float64(t.UnixNano())/(14.77*24*float64(time.Hour)))
	noise := func(s float64) float64 { return rng.NormFloat64() * s }
	r2 := func(f float64) float64 { return math.Round(f*100) / 100 }
	switch d.Kind {
	case "salinity":
		// Dry-season intrusion: grows toward the mouth; high tide pushes salt upstream.
		base := 0.3 + 11*d.frac*d.frac
		s := base*(1+0.35*tidal*spring) + noise(0.15)
		return map[string]float64{"salinity": r2(math.Max(0, s)), "temperature": r2(28 + 2*math.Sin(2*math.Pi*(hour-9)/24) + noise(0.2))}
	case "water_level":
		wl := 0.25 + 1.15*tidal*spring + 0.15*math.Cos(2*math.Pi*float64(t.UnixNano())/(2*tide)) + noise(0.03)
		return map[string]float64{"water_level": r2(wl)}
	case "air_quality":
		rush := math.Exp(-math.Pow(hour-7.5, 2)/2) + math.Exp(-math.Pow(hour-18, 2)/2)
		base := 18.0
		if d.urban {
			base = 28
		}
		pm := base + 22*rush + math.Abs(noise(4))
		if rng.Float64() < 0.002 {
			pm += 40 + rng.Float64()*40 // a passing burn-off or construction plume
		}
		return map[string]float64{"pm25": r2(pm), "pm10": r2(pm*1.6 + noise(3))}
	case "rain":
		mm := 0.0
		if rng.Float64() < 0.08+0.1*math.Exp(-math.Pow(hour-16, 2)/4) { // afternoon showers
			mm = math.Round(rng.ExpFloat64()*3*10) / 10
		}
		return map[string]float64{"rain_mm": mm}
	case "traffic":
		flow := 5 + 60*(math.Exp(-math.Pow(hour-7, 2)/1.5)+math.Exp(-math.Pow(hour-17.5, 2)/2)) + 20*math.Sin(math.Pi*hour/24)
		return map[string]float64{"vehicles": math.Max(0, math.Round(flow+noise(4)))}
	}
	return nil
}

// Run publishes every device's readings once per interval, spread evenly, until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	fleet, err := Fleet(cfg)
	if err != nil {
		return err
	}
	opts := paho.NewClientOptions().AddBroker(cfg.Broker).SetClientID(cfg.ClientID).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetCleanSession(true)
	client := paho.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("simulate: connect %s: %w", cfg.Broker, err)
		}
	case <-ctx.Done():
		return nil
	}
	defer client.Disconnect(250)
	if cfg.Cameras > 0 {
		sim := frigate.NewSimulator("frigate", cfg.Cameras, uint64(cfg.Seed))
		go func() {
			if err := sim.Run(ctx, frigate.PahoPublisher{Client: client}, time.Second); err != nil && ctx.Err() == nil {
				log.Warn("demo camera feed stopped", "component", "simulate", "error", err)
			}
		}()
	}
	if !cfg.HistoryFrom.IsZero() && cfg.HistoryStep > 0 {
		n, err := publishHistory(ctx, client, fleet, cfg.HistoryFrom, cfg.HistoryStep, time.Now(), rand.New(rand.NewPCG(uint64(cfg.Seed), 0x4157)))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		log.Info("demo history published", "component", "simulate", "readings", n, "from", cfg.HistoryFrom.Format(time.RFC3339), "step", cfg.HistoryStep)
	}
	log.Info("demo feed publishing", "component", "simulate", "devices", len(fleet), "interval", cfg.Interval, "broker", cfg.Broker)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(time.Now().UnixNano())))
	step := cfg.Interval / time.Duration(max(len(fleet), 1))
	tick := time.NewTicker(max(step, time.Millisecond))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(fleet) {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			topic, payload, err := Message(&fleet[i], now, rng)
			if err != nil {
				return err
			}
			client.Publish(topic, 1, false, payload) // paho queues it; a lost connection retries
		}
	}
}

// Message renders a device's reading at t in the format its kind uses in the demo: rain gauges speak
// SenML, traffic counters go through a ThingsBoard gateway, the rest ThingsBoard device JSON. Every
// payload carries the device's location so an ioc that does not know the device registers it.
func Message(d *Device, t time.Time, rng *rand.Rand) (string, []byte, error) {
	vals := d.Values(t, rng)
	ms := t.UnixMilli()
	var v any
	var topic string
	switch d.Kind {
	case "rain":
		topic = "ioc/senml/" + d.ID
		recs := []map[string]any{{"bn": d.ID + ":", "bt": float64(ms) / 1000, "n": "rain_mm", "u": "mm", "v": vals["rain_mm"]},
			{"n": "lon", "u": "lon", "v": d.Location[0]}, {"n": "lat", "u": "lat", "v": d.Location[1]}}
		v = recs
	case "traffic":
		topic = "v1/gateway/telemetry"
		vals["lon"], vals["lat"] = d.Location[0], d.Location[1]
		v = map[string]any{d.ID: []map[string]any{{"ts": ms, "values": vals}}}
	default:
		topic = "ioc/devices/" + d.ID + "/telemetry"
		vals["lon"], vals["lat"] = d.Location[0], d.Location[1]
		v = map[string]any{"ts": ms, "values": vals}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("simulate: %s: %w", d.ID, err)
	}
	return topic, b, nil
}

// History returns the readings of the fleet every step from from until before to, oldest first, as
// (topic, payload) pairs in the formats Message renders.
func History(fleet []Device, from time.Time, step time.Duration, to time.Time, rng *rand.Rand, fn func(topic string, payload []byte) error) (int, error) {
	n := 0
	for t := from; t.Before(to); t = t.Add(step) {
		for i := range fleet {
			topic, payload, err := Message(&fleet[i], t, rng)
			if err != nil {
				return n, err
			}
			if err := fn(topic, payload); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// historyWindow bounds the history publishes awaiting their acknowledgement. ioc's broker acknowledges
// a publish once ioc stored it, so waiting for each in turn would take a store commit per reading; a
// window keeps the store's batches full while staying far below the broker's in-flight limit.
const historyWindow = 512

// publishHistory publishes History at QoS 1 with at most historyWindow unacknowledged, and waits for
// every acknowledgement before it returns.
func publishHistory(ctx context.Context, client paho.Client, fleet []Device, from time.Time, step time.Duration, to time.Time, rng *rand.Rand) (int, error) {
	var pending []paho.Token
	wait := func(tok paho.Token) error {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				return fmt.Errorf("simulate: history: %w", err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n, err := History(fleet, from, step, to, rng, func(topic string, payload []byte) error {
		if len(pending) == historyWindow {
			if err := wait(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		pending = append(pending, client.Publish(topic, 1, false, payload))
		return nil
	})
	for _, tok := range pending {
		if werr := wait(tok); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
