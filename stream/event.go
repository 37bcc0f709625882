// Package stream is ioc's shared vocabulary: the Event that flows from collectors through the pipeline
// to sinks, the Collector and Sink contracts, and the pipeline runner that connects them with bounded
// queues. It imports nothing else of ioc; every component imports it and not each other.
package stream

import (
	"context"
	"errors"
	"time"

	"github.com/paulmach/orb"
)

// Event types. Type says which family an event belongs to; Kind says what sort of entity it is about.
const (
	TypeTelemetry = "telemetry" // sensor readings
	TypeCamera    = "camera"    // AI-camera detections
	TypeAlarm     = "alarm"     // alarm state changes
	TypeReport    = "report"    // citizen field reports
	TypeGeofence  = "geofence"  // geofence enter/exit/inside detections
)

// AreaOutside is the area code given to an event whose location falls in no known area.
const AreaOutside = "outside"

// Event is one observation about one entity at one time: a set of sensor values from a device, a camera
// detection, an alarm change. Location is [lon, lat] in WGS84 (orb.Point order) and is meaningful only
// when HasLocation is true.
//
// Events are values; a stage that changes an event works on its own copy of the maps it modifies.
type Event struct {
	Entity      string             // entity ID: device, camera, alarm or report ID
	Kind        string             // entity kind: salinity, water_level, air_quality, rain, traffic, camera, …
	Type        string             // event family: TypeTelemetry, TypeCamera, …
	Source      string             // name of the collector that produced it
	Time        time.Time          // observation time
	Location    orb.Point          // [lon, lat]
	HasLocation bool               // whether Location is set
	Values      map[string]float64 // numeric values by field name
	Attrs       map[string]string  // text attributes (labels, units, states)
	Areas       map[string]string  // admin area code by level (province, district, commune …), set by enrichment
}

// Batch is what a collector hands to the pipeline: the events decoded from one inbound message, and
// Done, called exactly once when every event of the batch is either durably stored or rejected. A
// collector that acknowledges messages to its source (MQTT QoS 1) does so from Done, so nothing
// acknowledged can be lost. Done may be nil.
type Batch struct {
	Events []Event
	Done   func()
}

// Emit hands a batch to the pipeline. It returns nil once the pipeline has taken responsibility for the
// batch (Done will be called), or an error when it did not (context ended, or the batch was dropped by an
// on_full: drop queue, in which case Done has already been called and the drop was counted).
// Emit is safe for concurrent use.
type Emit func(ctx context.Context, b Batch) error

// Collector produces events. Run blocks until ctx ends or the collector cannot go on; it closes only
// what it owns and returns nil on a normal stop.
type Collector interface {
	Run(ctx context.Context, emit Emit) error
}

// Sink consumes events. Write is called by one goroutine at a time with a batch the sink must not retain
// after returning. A durable sink returns nil only when the events are safely stored; on error the
// pipeline retries the same batch with backoff, so writes must be idempotent (the same entity, field and
// time written twice leaves one point).
type Sink interface {
	Write(ctx context.Context, events []Event) error
}

// Stage changes or filters events inside the pipeline (enrichment, alarm rules). Process is called from
// one pipeline goroutine; it may modify ev in place and returns an error to reject the event (the error
// should wrap a *Rejection so the reason is counted).
type Stage interface {
	Process(ctx context.Context, ev *Event) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, ev *Event) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Checker is implemented by components that can report readiness (/readyz). An error that wraps
// ErrDegraded says the component is impaired but ioc keeps every accepted input (the InfluxDB spool
// holds points while InfluxDB is down, a collector reconnects within its grace): /readyz stays 200
// with status "degraded". Any other error makes ioc not ready (503).
type Checker interface {
	Check(ctx context.Context) error
}

// ErrDegraded marks a Check error that leaves ioc ready; see Checker.
var ErrDegraded = errors.New("degraded")

// Clone returns a copy of ev whose maps may be modified without affecting ev.
func (ev Event) Clone() Event {
	out := ev
	out.Values = cloneMap(ev.Values)
	out.Attrs = cloneMap(ev.Attrs)
	out.Areas = cloneMap(ev.Areas)
	return out
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
