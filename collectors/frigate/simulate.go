package frigate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Publisher sends one MQTT message. PahoPublisher adapts a paho client.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// PahoPublisher publishes with QoS 1 through a connected paho client.
type PahoPublisher struct{ Client mqtt.Client }

// Publish sends payload and waits for the broker's acknowledgement or ctx.
func (p PahoPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	tok := p.Client.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}

// SimMessage is one generated MQTT message.
type SimMessage struct {
	Topic   string
	Payload []byte
}

// Simulator generates realistic Frigate traffic for a set of cameras: tracked objects (person, car,
// motorcycle, bicycle) that appear, move through zones with rising scores and end, each as a
// new → update… → end sequence on <prefix>/events, plus the matching review segments on
// <prefix>/reviews. It is deterministic for a given seed. Not safe for concurrent use.
type Simulator struct {
	prefix  string
	cameras []string
	rng     *rand.Rand
	seq     int
	open    map[string]*simObject // by event id
}

type simObject struct {
	obj     Object
	updates int // updates left before the end
}

var (
	simLabels = []string{"person", "car", "motorcycle", "motorcycle", "bicycle"} // motorbikes dominate Vietnamese streets
	simZones  = []string{"vỉa_hè", "lòng_đường", "cổng", "bãi_xe"}
	simPlates = []string{"", "", "51F-123.45", "29A-678.90", "59X1-234.56"}
)

// NewSimulator builds a simulator for cameras named cam_001 … cam_NNN under topic prefix.
func NewSimulator(prefix string, cameras int, seed uint64) *Simulator {
	s := &Simulator{prefix: prefix, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), open: map[string]*simObject{}}
	for i := 1; i <= cameras; i++ {
		s.cameras = append(s.cameras, fmt.Sprintf("cam_%03d", i))
	}
	return s
}

// Cameras returns the simulated Frigate camera names (register them to place them on the map).
func (s *Simulator) Cameras() []string { return append([]string(nil), s.cameras...) }

// Step advances the simulation to now: every open object publishes an update or its end, and each
// camera starts a new object with a small probability.
func (s *Simulator) Step(now time.Time) []SimMessage {
	var out []SimMessage
	ts := float64(now.UnixNano()) / 1e9
	ids := make([]string, 0, len(s.open))
	for id := range s.open {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := s.open[id]
		before := o.obj
		before.CurrentZones = append([]string(nil), o.obj.CurrentZones...)
		before.EnteredZones = append([]string(nil), o.obj.EnteredZones...)
		o.obj.FrameTime = ts
		o.obj.Score = min(0.99, 0.55+s.rng.Float64()*0.45)
		o.obj.TopScore = max(o.obj.TopScore, o.obj.Score)
		if o.updates == 0 {
			end := ts
			o.obj.EndTime = &end
			o.obj.CurrentZones = []string{}
			out = append(out, s.eventMsg(TypeEnd, &before, &o.obj), s.reviewMsg(TypeEnd, &o.obj))
			delete(s.open, id)
			continue
		}
		o.updates--
		z := simZones[s.rng.IntN(len(simZones))]
		o.obj.CurrentZones = []string{z}
		if !contains(o.obj.EnteredZones, z) {
			o.obj.EnteredZones = append(o.obj.EnteredZones, z)
		}
		o.obj.HasSnapshot = true
		out = append(out, s.eventMsg(TypeUpdate, &before, &o.obj))
	}
	for _, cam := range s.cameras {
		if s.rng.Float64() > 0.08 {
			continue
		}
		s.seq++
		id := fmt.Sprintf("%.6f-%s%04d", ts, cam[4:], s.seq%10000)
		label := simLabels[s.rng.IntN(len(simLabels))]
		o := &simObject{updates: 1 + s.rng.IntN(4), obj: Object{ID: id, Camera: cam, FrameTime: ts, Label: label,
			Score: 0.6 + s.rng.Float64()*0.3, StartTime: ts, CurrentZones: []string{}, EnteredZones: []string{},
			Box: []float64{100, 120, 260, 400}}}
		o.obj.TopScore = o.obj.Score
		if label == "car" || label == "motorcycle" {
			if p := simPlates[s.rng.IntN(len(simPlates))]; p != "" {
				o.obj.SubLabel = json.RawMessage(fmt.Sprintf("[%q, %.2f]", p, 0.8+s.rng.Float64()*0.19))
			}
		}
		s.open[id] = o
		out = append(out, s.eventMsg(TypeNew, nil, &o.obj), s.reviewMsg(TypeNew, &o.obj))
	}
	return out
}

// Run publishes a Step every interval until ctx ends.
func (s *Simulator) Run(ctx context.Context, pub Publisher, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			for _, m := range s.Step(now) {
				if err := pub.Publish(ctx, m.Topic, m.Payload); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("frigate simulator: %w", err)
				}
			}
		}
	}
}

func (s *Simulator) eventMsg(typ string, before, after *Object) SimMessage {
	return SimMessage{Topic: s.prefix + "/events", Payload: mustJSON(Message{Type: typ, Before: before, After: after})}
}

func (s *Simulator) reviewMsg(typ string, o *Object) SimMessage {
	severity := "detection"
	if o.Label == "person" {
		severity = "alert"
	}
	item := &ReviewItem{ID: "review-" + o.ID, Camera: o.Camera, StartTime: o.StartTime, EndTime: o.EndTime, Severity: severity,
		Data: ReviewData{Detections: []string{o.ID}, Objects: []string{o.Label}, SubLabels: []string{}, Zones: o.EnteredZones}}
	return SimMessage{Topic: s.prefix + "/reviews", Payload: mustJSON(Review{Type: typ, After: item})}
}

// mustJSON marshals values built from plain structs of strings and numbers, which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("frigate simulator: marshal: %v", err))
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
