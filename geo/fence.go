package geo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

// Geofence detections, after Tile38's detect semantics: enter when an entity is inside and was not
// (or was never seen), exit when it was inside and is not any more, inside for every further position
// inside.
const (
	DetectEnter  = "enter"
	DetectExit   = "exit"
	DetectInside = "inside"
)

// Fence is a named polygon ([lon, lat]) watched for entities of some kinds (all when Kinds is empty).
// Detect lists what to report; empty means enter and exit.
type Fence struct {
	ID     string           `json:"id"`
	Name   string           `json:"name"`
	Detect []string         `json:"detect"`
	Kinds  []string         `json:"kinds,omitempty"`
	Geom   orb.MultiPolygon `json:"-"`

	area *Area // Geom indexed for Contains
}

// Check reports what is wrong with f.
func (f Fence) Check() error {
	var errs []error
	if f.ID == "" {
		errs = append(errs, errors.New("id: must be set"))
	}
	if f.Name == "" {
		errs = append(errs, errors.New("name: must be set"))
	}
	for i, d := range f.Detect {
		if d != DetectEnter && d != DetectExit && d != DetectInside {
			errs = append(errs, fmt.Errorf("detect[%d]: %q is not one of enter, exit, inside", i, d))
		}
	}
	if len(f.Geom) == 0 {
		errs = append(errs, errors.New("polygon: must be set"))
	}
	for i, p := range f.Geom {
		if len(p) == 0 {
			errs = append(errs, fmt.Errorf("polygon %d: has no rings", i))
		}
		for j, r := range p {
			if err := CheckRing(r); err != nil {
				errs = append(errs, fmt.Errorf("polygon %d ring %d: %w", i, j, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Contains reports whether p ([lon, lat]) is inside the fence or on its edge.
func (f *Fence) Contains(p orb.Point) bool { return f.area.Contains(p) }

func (f *Fence) wants(d string) bool {
	if len(f.Detect) == 0 {
		return d == DetectEnter || d == DetectExit
	}
	return slices.Contains(f.Detect, d)
}

// Fences watches moving entities against geofences. As a pipeline stage (Process) it compares each
// located event's position with the entity's last known state per fence; as a collector (Run) it
// emits the detections as stream.TypeGeofence events, so they are stored, shown live and seen by
// alarm rules. Detections wait in a bounded queue; when it is full they are dropped and counted.
// Process, Put and Delete may be called concurrently.
type Fences struct {
	mu     sync.Mutex // guards fences, inside
	fences map[string]*Fence
	inside map[string]map[string]bool // fence ID → entity → inside at its last position

	out     chan stream.Event
	events  *prometheus.CounterVec
	dropped prometheus.Counter
}

var (
	_ stream.Stage     = (*Fences)(nil)
	_ stream.Collector = (*Fences)(nil)
)

// NewFences builds the detector with the given fences and a detection queue of queue events.
func NewFences(list []Fence, queue int, reg prometheus.Registerer) (*Fences, error) {
	f := &Fences{fences: map[string]*Fence{}, inside: map[string]map[string]bool{}, out: make(chan stream.Event, queue),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_geofence_detections_total",
			Help: "Geofence detections emitted, by detect (enter, exit, inside)."}, []string{"detect"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_geofence_dropped_total",
			Help: "Geofence detections dropped because the queue was full."})}
	if reg != nil {
		reg.MustRegister(f.events, f.dropped)
	}
	var errs []error
	for i, fc := range list {
		if err := f.Put(fc); err != nil {
			errs = append(errs, fmt.Errorf("geofences[%d] (%s): %w", i, fc.ID, err))
		}
	}
	return f, errors.Join(errs...)
}

// Put adds or replaces a fence. A replaced fence forgets who was inside it.
func (f *Fences) Put(fc Fence) error {
	if err := fc.Check(); err != nil {
		return err
	}
	fc.Detect, fc.Kinds = slices.Clone(fc.Detect), slices.Clone(fc.Kinds)
	fc.area = &Area{Code: fc.ID, Name: fc.Name, Geom: fc.Geom, Bound: fc.Geom.Bound()}
	fc.area.grid = newGrid(fc.Geom, fc.area.Bound)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fences[fc.ID] = &fc
	f.inside[fc.ID] = map[string]bool{}
	return nil
}

// Delete removes a fence; false when there was none.
func (f *Fences) Delete(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.fences[id]
	delete(f.fences, id)
	delete(f.inside, id)
	return ok
}

// List returns the fences ordered by ID.
func (f *Fences) List() []Fence {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fence, 0, len(f.fences))
	for _, fc := range f.fences {
		out = append(out, *fc)
	}
	slices.SortFunc(out, func(a, b Fence) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Process detects enter, exit and inside for located events of entities (not for alarm or geofence
// events themselves). It never rejects an event.
func (f *Fences) Process(_ context.Context, ev *stream.Event) error {
	if !ev.HasLocation || ev.Type == stream.TypeGeofence || ev.Type == stream.TypeAlarm {
		return nil
	}
	for _, d := range f.detect(ev) {
		select {
		case f.out <- d:
			f.events.WithLabelValues(d.Attrs["detect"]).Inc()
		default:
			f.dropped.Inc()
		}
	}
	return nil
}

func (f *Fences) detect(ev *stream.Event) []stream.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []stream.Event
	for id, fc := range f.fences {
		if len(fc.Kinds) > 0 && !slices.Contains(fc.Kinds, ev.Kind) {
			continue
		}
		in, was := fc.Contains(ev.Location), f.inside[id][ev.Entity]
		var d string
		switch {
		case in && !was:
			d = DetectEnter
		case !in && was:
			d = DetectExit
		case in:
			d = DetectInside
		}
		if in {
			f.inside[id][ev.Entity] = true
		} else {
			delete(f.inside[id], ev.Entity)
		}
		if d == "" || !fc.wants(d) {
			continue
		}
		out = append(out, stream.Event{Entity: "geofence:" + id, Kind: "geofence", Type: stream.TypeGeofence,
			Source: "geofence", Time: ev.Time, Location: ev.Location, HasLocation: true,
			Attrs: map[string]string{"fence": id, "name": fc.Name, "detect": d, "object": ev.Entity, "object_kind": ev.Kind}})
	}
	slices.SortFunc(out, func(a, b stream.Event) int { return cmp.Compare(a.Entity, b.Entity) })
	return out
}

// Run emits queued detections until ctx ends.
func (f *Fences) Run(ctx context.Context, emit stream.Emit) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-f.out:
			if err := emit(ctx, stream.Batch{Events: []stream.Event{ev}}); err != nil && ctx.Err() == nil && !errors.Is(err, stream.ErrDropped) {
				return fmt.Errorf("geofence: %w", err)
			}
		}
	}
}
