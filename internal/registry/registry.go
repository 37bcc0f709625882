// Package registry keeps ioc's entities — devices, cameras, alarms, reports — with their static
// description (name, kind, location, metadata) and their latest state (last values and time). As a
// pipeline stage it fills each event's kind and location from the registry and auto-registers unknown
// devices; as a live sink it merges accepted events into the latest state and publishes the changed
// entities (to the websocket hub).
package registry

import (
	"context"
	"errors"
	"fmt"
	stdmaps "maps"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/stream"
)

// Entity is an entity's description and latest state. Location is [lon, lat].
type Entity struct {
	ID          string             `json:"id"`
	Name        string             `json:"name,omitempty"`
	Kind        string             `json:"kind"`
	Type        string             `json:"type"`
	Registered  bool               `json:"registered"`
	Location    orb.Point          `json:"-"`
	HasLocation bool               `json:"-"`
	Meta        map[string]string  `json:"metadata,omitempty"`
	Time        time.Time          `json:"-"`
	Values      map[string]float64 `json:"values,omitempty"`
	Attrs       map[string]string  `json:"attrs,omitempty"`
	Areas       map[string]string  `json:"areas,omitempty"`
}

// Device is a device entry of the devices file.
type Device struct {
	ID       string            `yaml:"id"`
	Name     string            `yaml:"name"`
	Kind     string            `yaml:"kind"`
	Location []float64         `yaml:"location"` // [lon, lat]
	Metadata map[string]string `yaml:"metadata"`
	Type     string            `yaml:"-"` // entity family (stream.Type…); empty: telemetry
}

// Registry holds every entity. It is safe for concurrent use.
type Registry struct {
	autoRegister bool
	publish      func([]Entity)

	mu       sync.RWMutex // guards entities
	entities map[string]*Entity
}

// New returns an empty registry. publish, if not nil, receives the entities changed by each Write.
func New(autoRegister bool, publish func([]Entity)) *Registry {
	return &Registry{autoRegister: autoRegister, publish: publish, entities: map[string]*Entity{}}
}

// LoadDevices reads a YAML devices file ({devices: [...]}) and registers its devices.
func (r *Registry) LoadDevices(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("devices file: %w", err)
	}
	var f struct {
		Devices []Device `yaml:"devices"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("devices file %s: %w", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, d := range f.Devices {
		if d.ID != "" && seen[d.ID] {
			errs = append(errs, fmt.Errorf("devices file %s: devices[%d]: duplicate id %q", path, i, d.ID))
			continue
		}
		seen[d.ID] = true
		if err := d.check(); err != nil {
			errs = append(errs, fmt.Errorf("devices file %s: devices[%d] (%s): %w", path, i, d.ID, err))
			continue
		}
		r.Register(d)
	}
	return errors.Join(errs...)
}

func (d Device) check() error {
	if d.ID == "" {
		return fmt.Errorf("id: must be set")
	}
	if d.Kind == "" {
		return fmt.Errorf("kind: must be set")
	}
	if len(d.Location) != 0 {
		if len(d.Location) != 2 {
			return fmt.Errorf("location: must be [lon, lat]")
		}
		if err := stream.CheckLonLat(d.Location[0], d.Location[1]); err != nil {
			return fmt.Errorf("location: %w", err)
		}
	}
	return nil
}

// Register adds or replaces a known device, keeping any latest state it already has.
func (r *Registry) Register(d Device) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entities[d.ID]
	if e == nil {
		typ := d.Type
		if typ == "" {
			typ = stream.TypeTelemetry
		}
		e = &Entity{ID: d.ID, Type: typ}
		r.entities[d.ID] = e
	}
	e.Name, e.Kind, e.Meta, e.Registered = d.Name, d.Kind, d.Metadata, true
	if len(d.Location) == 2 {
		e.Location, e.HasLocation = orb.Point{d.Location[0], d.Location[1]}, true
	}
}

// Restore puts back entities saved by the store (their latest state) without overriding registered
// descriptions.
func (r *Registry) Restore(es []Entity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, saved := range es {
		e := r.entities[saved.ID]
		if e == nil {
			c := saved
			r.entities[saved.ID] = &c
			continue
		}
		e.Time, e.Values, e.Attrs, e.Areas = saved.Time, saved.Values, saved.Attrs, saved.Areas
		if !e.HasLocation && saved.HasLocation {
			e.Location, e.HasLocation = saved.Location, true
		}
	}
}

// Process fills an event's kind and location from the registry and registers unknown entities
// (flagged Registered=false) when auto-registration is on; otherwise an unknown device is rejected.
func (r *Registry) Process(_ context.Context, ev *stream.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entities[ev.Entity]
	if e == nil {
		if !r.autoRegister && ev.Type == stream.TypeTelemetry {
			return stream.Reject("unknown_device", "device %q is not registered and devices.auto_register is off", ev.Entity)
		}
		kind := ev.Kind
		if kind == "" {
			kind = InferKind(ev.Values)
		}
		e = &Entity{ID: ev.Entity, Kind: kind, Type: ev.Type}
		r.entities[ev.Entity] = e
	}
	if ev.Kind == "" {
		ev.Kind = e.Kind
	}
	if ev.HasLocation {
		e.Location, e.HasLocation = ev.Location, true // a moving entity
	} else if e.HasLocation {
		ev.Location, ev.HasLocation = e.Location, true
	}
	return nil
}

// Write merges accepted events into the latest state and publishes the changed entities. An event
// older than the entity's latest state is ignored (late redelivery never rolls the map back).
func (r *Registry) Write(_ context.Context, events []stream.Event) error {
	changed := make(map[string]Entity, len(events))
	func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := range events {
			ev := &events[i]
			e := r.entities[ev.Entity]
			if e == nil {
				e = &Entity{ID: ev.Entity, Kind: ev.Kind, Type: ev.Type}
				r.entities[ev.Entity] = e
			}
			if ev.Time.Before(e.Time) {
				continue
			}
			e.Time = ev.Time
			e.Values = merged(e.Values, ev.Values)
			e.Attrs = merged(e.Attrs, ev.Attrs)
			if len(ev.Areas) > 0 {
				e.Areas = ev.Areas
			}
			if ev.HasLocation {
				e.Location, e.HasLocation = ev.Location, true
			}
			changed[e.ID] = *e // maps are replaced, never changed in place, so sharing them is safe
		}
	}()
	if r.publish != nil && len(changed) > 0 {
		out := make([]Entity, 0, len(changed))
		for _, e := range changed {
			out = append(out, e)
		}
		r.publish(out)
	}
	return nil
}

// Relabel gives every located entity the areas codes returns for it (after a boundary reload) and
// publishes those whose areas changed; it returns how many changed. codes is called under the
// registry's lock and must not call back into it.
func (r *Registry) Relabel(codes func(Entity) map[string]string) int {
	var changed []Entity
	func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.entities {
			if !e.HasLocation {
				continue
			}
			next := codes(*e)
			if stdmaps.Equal(next, e.Areas) {
				continue
			}
			e.Areas = next // replaced, never changed in place
			changed = append(changed, *e)
		}
	}()
	if r.publish != nil && len(changed) > 0 {
		r.publish(changed)
	}
	return len(changed)
}

// Get returns one entity.
func (r *Registry) Get(id string) (Entity, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entities[id]
	if !ok {
		return Entity{}, false
	}
	return e.clone(), true
}

// List returns every entity of the given types (all when none), sorted by ID.
func (r *Registry) List(types ...string) []Entity {
	r.mu.RLock()
	out := make([]Entity, 0, len(r.entities))
	for _, e := range r.entities {
		if len(types) == 0 || slices.Contains(types, e.Type) {
			out = append(out, e.clone())
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len is the number of entities.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entities)
}

func (e *Entity) clone() Entity {
	c := *e
	c.Values = maps(e.Values)
	c.Attrs = maps(e.Attrs)
	c.Areas = maps(e.Areas)
	c.Meta = maps(e.Meta)
	return c
}

func maps[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// merged returns old with src's entries laid over it, as a new map when src adds anything: an
// entity's maps are never changed in place (copy on write), so the states published to the live hub
// can share them.
func merged[V any](old, src map[string]V) map[string]V {
	if len(src) == 0 {
		return old
	}
	out := make(map[string]V, len(old)+len(src))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range src {
		out[k] = v
	}
	return out
}

// kindByField infers a device kind from the fields it reports.
var kindByField = []struct{ field, kind string }{
	{"salinity", "salinity"},
	{"water_level", "water_level"},
	{"pm25", "air_quality"},
	{"pm10", "air_quality"},
	{"rain_mm", "rain"},
	{"rain", "rain"},
	{"vehicles", "traffic"},
}

// InferKind guesses the kind of an unknown device from its fields, or "unknown".
func InferKind(values map[string]float64) string {
	for _, kf := range kindByField {
		if _, ok := values[kf.field]; ok {
			return kf.kind
		}
	}
	return "unknown"
}
