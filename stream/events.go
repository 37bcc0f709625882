package stream

import (
	"context"
	"time"
)

// EventQuery selects stored non-telemetry events (camera detections, alarms, reports, geofence hits)
// between From (inclusive) and To (exclusive), newest first. Empty fields match everything; Attrs
// entries must all match the event's attributes exactly (for example {"label": "person"}).
type EventQuery struct {
	Type   string
	Entity string
	Kind   string
	Attrs  map[string]string
	From   time.Time
	To     time.Time
	Limit  int
}

// EventStore answers queries over stored events.
type EventStore interface {
	Events(ctx context.Context, q EventQuery) ([]Event, error)
}
