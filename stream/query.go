package stream

import (
	"context"
	"fmt"
	"time"
)

// Aggregations accepted by ReadingQuery.Agg.
var Aggs = []string{"mean", "min", "max", "last", "count"}

// ReadingQuery asks for the history of one field of one entity between From (inclusive) and To
// (exclusive). With Every > 0 the samples are grouped into windows of that length that start at Origin
// plus a whole number of Every (the zero Origin is the Unix epoch), and reduced with Agg; each returned
// sample carries its window's start time. An Origin at local midnight on a Monday makes windows of a day
// calendar days and windows of a week calendar weeks there.
type ReadingQuery struct {
	Entity string
	Field  string
	From   time.Time
	To     time.Time
	Every  time.Duration
	Origin time.Time
	Agg    string
	Limit  int // at most this many samples (0: the store's default)
}

// OffsetMillis is where windows start within each Every, as milliseconds after a multiple of Every since
// the Unix epoch (0 ≤ offset < Every; 0 when Every is not set).
func (q ReadingQuery) OffsetMillis() int64 {
	every := q.Every.Milliseconds()
	if every <= 0 || q.Origin.IsZero() {
		return 0
	}
	return ((q.Origin.UnixMilli() % every) + every) % every
}

// Sample is one value at one time.
type Sample struct {
	Time  time.Time `json:"ts"`
	Value float64   `json:"value"`
}

// ReadingStore answers history queries. The SQLite and InfluxDB stores implement it and pass the same
// contract tests.
type ReadingStore interface {
	Readings(ctx context.Context, q ReadingQuery) ([]Sample, error)
}

// Check validates the query's shape.
func (q ReadingQuery) Check() error {
	if q.Entity == "" {
		return fmt.Errorf("device is required")
	}
	if q.Field == "" {
		return fmt.Errorf("field is required")
	}
	if !q.To.After(q.From) {
		return fmt.Errorf("to must be after from")
	}
	if q.Every < 0 {
		return fmt.Errorf("every must be positive")
	}
	if q.Every > 0 {
		ok := false
		for _, a := range Aggs {
			ok = ok || a == q.Agg
		}
		if !ok {
			return fmt.Errorf("agg must be one of %v", Aggs)
		}
	}
	return nil
}
