package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/stream"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEventsAndEntitiesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ioc.db")
	s := open(t, path)
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	cam := func(id, label string, at time.Time) stream.Event {
		return stream.Event{Entity: "cam-dong-khoi", Kind: "camera", Type: stream.TypeCamera, Time: at,
			Location: [2]float64{106.376, 10.241}, HasLocation: true,
			Attrs: map[string]string{"event_id": id, "label": label}, Values: map[string]float64{"score": 0.9},
			Areas: map[string]string{"district": "829"}}
	}
	batch := []stream.Event{
		cam("e1", "person", t0), cam("e2", "car", t0.Add(time.Minute)), cam("e1", "person", t0), // a redelivery
		{Entity: "sal-1", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0, Values: map[string]float64{"salinity": 4.5}},
		{Entity: "sal-1", Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(-time.Hour), Values: map[string]float64{"salinity": 1, "temperature": 27}},
	}
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	tests := []struct {
		name string
		q    stream.EventQuery
		want []string // event ids, newest first
	}{
		{"all camera events", stream.EventQuery{Type: stream.TypeCamera}, []string{"e2", "e1"}},
		{"by label", stream.EventQuery{Entity: "cam-dong-khoi", Attrs: map[string]string{"label": "person"}}, []string{"e1"}},
		{"time range excludes", stream.EventQuery{From: t0.Add(30 * time.Second), To: t0.Add(2 * time.Minute)}, []string{"e2"}},
		{"unknown label", stream.EventQuery{Attrs: map[string]string{"label": "dog"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %v", len(got), tt.want)
			}
			for i, e := range got {
				if e.Attrs["event_id"] != tt.want[i] || !e.HasLocation || e.Areas["district"] != "829" {
					t.Errorf("event %d = %+v", i, e)
				}
			}
		})
	}
	es, err := s.Entities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for i, e := range es {
		byID[e.ID] = i
	}
	sal := es[byID["sal-1"]]
	if sal.Values["salinity"] != 4.5 || !sal.Time.Equal(t0) {
		t.Errorf("sal-1 latest = %v at %v, want salinity 4.5 at %v (older reading must not win)", sal.Values, sal.Time, t0)
	}
	if c := es[byID["cam-dong-khoi"]]; c.Attrs["event_id"] != "e2" || !c.HasLocation {
		t.Errorf("camera latest = %+v", c)
	}
}

// TestEventsInNarrowsBeforeTheLimit: an area-scoped query gets up to the limit of events in its areas
// (any level) even when many more newer events lie elsewhere; an event without areas is in none.
func TestEventsInNarrowsBeforeTheLimit(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "ioc.db"))
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	ev := func(id string, at time.Time, areas map[string]string) stream.Event {
		return stream.Event{Entity: "cam-" + id, Kind: "camera", Type: stream.TypeCamera, Time: at,
			Attrs: map[string]string{"event_id": id}, Areas: areas}
	}
	city := map[string]string{"province": "83", "district": "829", "ward": "28756"}
	baTri := map[string]string{"province": "83", "district": "836"}
	var batch []stream.Event
	for i := range 3 { // the oldest: three in the city
		batch = append(batch, ev(fmt.Sprintf("city-%d", i), t0.Add(time.Duration(i)*time.Second), city))
	}
	for i := range 25 { // then 25 in Ba Tri, more than the limit
		batch = append(batch, ev(fmt.Sprintf("ba-tri-%02d", i), t0.Add(time.Minute+time.Duration(i)*time.Second), baTri))
	}
	batch = append(batch, ev("nowhere", t0.Add(time.Hour), nil)) // the newest: no location, no areas
	if err := s.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		areas []string
		limit int
		want  []string // the first event ids, newest first
		n     int      // how many events
	}{
		{"district, limit 10", []string{"829"}, 10, []string{"city-2", "city-1", "city-0"}, 3},
		{"ward code", []string{"28756"}, 10, []string{"city-2", "city-1", "city-0"}, 3},
		{"two districts fill the limit", []string{"829", "836"}, 10, []string{"ba-tri-24", "ba-tri-23"}, 10},
		{"province leaves out the event without areas", []string{"83"}, 5, []string{"ba-tri-24"}, 5},
		{"unknown area", []string{"830"}, 10, nil, 0},
		{"no areas: everything", nil, 10, []string{"nowhere", "ba-tri-24"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.EventsIn(ctx, stream.EventQuery{Type: stream.TypeCamera, Limit: tt.limit}, tt.areas)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(got))
			for i, e := range got {
				ids[i] = e.Attrs["event_id"]
			}
			if len(ids) != tt.n || len(ids) < len(tt.want) || !slices.Equal(ids[:len(tt.want)], tt.want) {
				t.Errorf("got %d events %v, want %d starting with %v", len(ids), ids, tt.n, tt.want)
			}
		})
	}
	if all, err := s.Events(ctx, stream.EventQuery{Limit: 10}); err != nil || len(all) != 10 || all[0].Attrs["event_id"] != "nowhere" {
		t.Errorf("Events without areas: %d events, %v", len(all), err)
	}
}

// TestReadingClashCounted: the same reading again changes nothing and counts nothing; another value on
// a stored key (entity, field, millisecond) replaces it and is counted as a clash.
func TestReadingClashCounted(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "ioc.db"))
	reg := prometheus.NewRegistry()
	clashes := NewClashCounter(reg)
	s.CountClashes(clashes)
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	reading := func(v float64, at time.Time) stream.Event {
		return stream.Event{Entity: "wl-1", Type: stream.TypeTelemetry, Time: at, Values: map[string]float64{"level": v}}
	}
	tests := []struct {
		name    string
		write   []stream.Event
		want    float64 // stored value at t0
		clashes float64 // counted so far
	}{
		{"new", []stream.Event{reading(1, t0)}, 1, 0},
		{"redelivery", []stream.Event{reading(1, t0)}, 1, 0},
		{"same millisecond, other time", []stream.Event{reading(1, t0.Add(300*time.Microsecond))}, 1, 0},
		{"other value", []stream.Event{reading(2, t0)}, 2, 1},
		{"two values in one batch", []stream.Event{reading(3, t0), reading(4, t0)}, 4, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Write(ctx, tt.write); err != nil {
				t.Fatal(err)
			}
			got, err := s.Readings(ctx, stream.ReadingQuery{Entity: "wl-1", Field: "level", From: t0, To: t0.Add(time.Second), Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Value != tt.want {
				t.Fatalf("readings = %+v, want one of %v", got, tt.want)
			}
			if c := testutil.ToFloat64(clashes.WithLabelValues("sqlite", ClashOverwritten)); c != tt.clashes {
				t.Fatalf("clashes = %v, want %v", c, tt.clashes)
			}
		})
	}
}
