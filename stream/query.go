package stream

import (
	"context"
	"fmt"
	"time"
)

// Aggregations accepted by ReadingQuery.Agg.
var Aggs = []string{"mean", "min", "max", "last", "count"}

// ReadingQuery asks for the history of one field of one entity between From (inclusive) and To
// (exclusive). With Every > 0 the samples are grouped into windows of that length, aligned to the Unix
// epoch, and reduced with Agg; each returned sample carries its window's start time.
type ReadingQuery struct {
	Entity string
	Field  string
	From   time.Time
	To     time.Time
	Every  time.Duration
	Agg    string
	Limit  int // at most this many samples (0: the store's default)
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
