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
	"github.com/prometheus/client_golang/prometheus"
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

// Limits bound auto-registration: what an unknown telemetry device must look like, and how many may
// be registered without being listed in the devices file. A zero cap is no cap. Known devices (listed,
// restored from the store or registered before) are never refused.
type Limits struct {
	MaxIDLength      int // bytes of a new device's id
	MaxAuto          int // auto-registered devices in total (restored ones included)
	MaxAutoPerSource int // auto-registered devices per source (collector name) since start
}

// Refusal reasons of auto-registration (the reason of the reading's rejection and of
// ioc_registry_refused_total).
const (
	ReasonIDTooLong    = "id_too_long"             // longer than Limits.MaxIDLength
	ReasonIDCharset    = "id_charset"              // a character outside IDCharset
	ReasonCapTotal     = "registration_cap"        // Limits.MaxAuto reached
	ReasonCapPerSource = "registration_cap_source" // Limits.MaxAutoPerSource reached for the source
)

// IDCharset describes the characters a new device's id may hold: ASCII letters and digits and
// "-", "_", ".", ":". It keeps ids safe as topic levels, URL path segments, file names and HTML text
// without escaping, and leaves no look-alike spellings of one id (no Unicode letters).
const IDCharset = "A-Z a-z 0-9 - _ . :"

// ValidID reports whether id is non-empty and made only of IDCharset.
func ValidID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Registry holds every entity. It is safe for concurrent use.
type Registry struct {
	autoRegister bool
	publish      func([]Entity)
	refused      *prometheus.CounterVec
	autoGauge    prometheus.Gauge

	mu       sync.RWMutex // guards entities, limits, auto and perSource
	entities map[string]*Entity
	limits   Limits
	auto     int            // auto-registered entities (Registered=false, telemetry) held
	perSrc   map[string]int // auto-registrations per source since start
}

// New returns an empty registry. publish, if not nil, receives the entities changed by each Write.
func New(autoRegister bool, publish func([]Entity)) *Registry {
	return &Registry{autoRegister: autoRegister, publish: publish, entities: map[string]*Entity{}, perSrc: map[string]int{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_registry_refused_total",
			Help: "Readings of unknown devices refused auto-registration, by reason."}, []string{"reason"}),
		autoGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_registry_auto_registered",
			Help: "Telemetry devices registered automatically (not listed in the devices file)."})}
}

// SetLimits sets the auto-registration limits.
func (r *Registry) SetLimits(l Limits) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.limits = l
}

// RegisterMetrics registers the registry's metrics with reg.
func (r *Registry) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{r.refused, r.autoGauge} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registry metrics: %w", err)
		}
	}
	return nil
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
	} else if r.isAuto(e) {
		r.setAuto(r.auto - 1)
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
			if r.isAuto(&c) {
				r.setAuto(r.auto + 1)
			}
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
// An unknown telemetry device is also rejected, and counted by reason, when its id breaks the id rules
// (Limits.MaxIDLength, IDCharset) or a registration cap is reached.
func (r *Registry) Process(_ context.Context, ev *stream.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entities[ev.Entity]
	if e == nil {
		if ev.Type == stream.TypeTelemetry {
			if !r.autoRegister {
				return stream.Reject("unknown_device", "device %q is not registered and devices.auto_register is off", ev.Entity)
			}
			if err := r.admit(ev); err != nil {
				return err
			}
		}
		kind := ev.Kind
		if kind == "" {
			kind = InferKind(ev.Values)
		}
		e = &Entity{ID: ev.Entity, Kind: kind, Type: ev.Type}
		r.entities[ev.Entity] = e
		if ev.Type == stream.TypeTelemetry {
			r.perSrc[ev.Source]++
			r.setAuto(r.auto + 1)
		}
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

// admit checks an unknown telemetry device against the id rules and the caps (r.mu held).
func (r *Registry) admit(ev *stream.Event) error {
	l := r.limits
	var reason, detail string
	switch {
	case l.MaxIDLength > 0 && len(ev.Entity) > l.MaxIDLength:
		reason, detail = ReasonIDTooLong, fmt.Sprintf("device id of %d bytes (%.32q…) is longer than devices.max_id_length %d", len(ev.Entity), ev.Entity, l.MaxIDLength)
	case !ValidID(ev.Entity):
		reason, detail = ReasonIDCharset, fmt.Sprintf("device id %.64q holds characters outside %s", ev.Entity, IDCharset)
	case l.MaxAuto > 0 && r.auto >= l.MaxAuto:
		reason, detail = ReasonCapTotal, fmt.Sprintf("device %q not registered: devices.max_auto_registered (%d) reached", ev.Entity, l.MaxAuto)
	case l.MaxAutoPerSource > 0 && r.perSrc[ev.Source] >= l.MaxAutoPerSource:
		reason, detail = ReasonCapPerSource, fmt.Sprintf("device %q not registered: devices.max_auto_registered_per_source (%d) reached by source %q",
			ev.Entity, l.MaxAutoPerSource, ev.Source)
	default:
		return nil
	}
	r.refused.WithLabelValues(reason).Inc()
	return stream.Reject(reason, "%s", detail)
}

// isAuto reports whether e counts as an auto-registered telemetry device.
func (r *Registry) isAuto(e *Entity) bool { return !e.Registered && e.Type == stream.TypeTelemetry }

func (r *Registry) setAuto(n int) {
	r.auto = n
	r.autoGauge.Set(float64(n))
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
			if e == nil { // state from another node (cluster), which admitted the device
				e = &Entity{ID: ev.Entity, Kind: ev.Kind, Type: ev.Type}
				r.entities[ev.Entity] = e
				if r.isAuto(e) {
					r.setAuto(r.auto + 1)
				}
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
// can share them. When src has every key of old (a device reporting the same fields each time, or a
// new one) the result is src itself: an event's maps are never changed after it was emitted (see
// stream.Event), so the entity shares it and nothing is copied per reading.
func merged[V any](old, src map[string]V) map[string]V {
	if len(src) == 0 {
		return old
	}
	if covers(src, old) {
		return src
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

// covers reports whether src has every key of old.
func covers[V any](src, old map[string]V) bool {
	if len(src) < len(old) {
		return false
	}
	for k := range old {
		if _, ok := src[k]; !ok {
			return false
		}
	}
	return true
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
