// Package storetest is the contract test suite of stream.ReadingStore: every store that ioc can serve
// /api/v1/readings from (SQLite, InfluxDB) must give the same answers to the same history queries. The
// expected answers come from a brute-force reference over the samples written, not from either store.
package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// Store is a durable sink whose readings can be queried back.
type Store interface {
	stream.Sink
	stream.ReadingStore
}

// base is the first sample's day (UTC midnight, so 1d windows start on it).
var base = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)

// point is one written reading.
type point struct {
	t time.Time
	v float64
}

// series makes n readings of one entity and field at irregular millisecond times, a little over 3
// minutes apart on average, with values that go up and down.
func series(n int, seed int) []point {
	out := make([]point, n)
	t := base.Add(time.Duration(seed) * 17 * time.Millisecond)
	for i := range out {
		t = t.Add(time.Duration(150_000+((i*7919+seed*104729)%60_000)) * time.Millisecond)
		out[i] = point{t: t, v: math.Round((float64((i*37+seed)%101)/4-12.5)*1000) / 1000}
	}
	return out
}

func events(entity, kind string, fields map[string][]point) []stream.Event {
	byTime := map[time.Time]*stream.Event{}
	var out []*stream.Event
	for f, ps := range fields {
		for _, p := range ps {
			ev, ok := byTime[p.t]
			if !ok {
				ev = &stream.Event{Entity: entity, Kind: kind, Type: stream.TypeTelemetry, Source: "storetest", Time: p.t,
					Values: map[string]float64{}, Areas: map[string]string{"province": "83", "district": "829"}}
				byTime[p.t] = ev
				out = append(out, ev)
			}
			ev.Values[f] = p.v
		}
	}
	slices.SortFunc(out, func(a, b *stream.Event) int { return a.Time.Compare(b.Time) })
	evs := make([]stream.Event, len(out))
	for i, e := range out {
		evs[i] = *e
	}
	return evs
}

// reference answers q over ps by brute force.
func reference(ps []point, q stream.ReadingQuery) []stream.Sample {
	var in []point
	for _, p := range ps {
		if !p.t.Before(q.From) && p.t.Before(q.To) {
			in = append(in, p)
		}
	}
	slices.SortFunc(in, func(a, b point) int { return a.t.Compare(b.t) })
	var out []stream.Sample
	if q.Every == 0 {
		for _, p := range in {
			out = append(out, stream.Sample{Time: p.t, Value: p.v})
		}
	} else {
		every, off := q.Every.Milliseconds(), q.OffsetMillis()
		window := func(t time.Time) int64 { ms := t.UnixMilli(); return ms - ((ms-off)%every+every)%every }
		for i := 0; i < len(in); {
			start := window(in[i].t)
			j := i
			for j < len(in) && window(in[j].t) == start {
				j++
			}
			w := in[i:j]
			var v float64
			switch q.Agg {
			case "mean":
				for _, p := range w {
					v += p.v
				}
				v /= float64(len(w))
			case "min":
				v = w[0].v
				for _, p := range w {
					v = min(v, p.v)
				}
			case "max":
				v = w[0].v
				for _, p := range w {
					v = max(v, p.v)
				}
			case "last":
				v = w[len(w)-1].v
			case "count":
				v = float64(len(w))
			}
			out = append(out, stream.Sample{Time: time.UnixMilli(start).UTC(), Value: v})
			i = j
		}
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// Run runs the contract against the store open returns (called once; the suite writes its own
// entities, so the store may hold other data).
func Run(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	st := open(t)
	const kind = "water_level"
	level, temp := series(1500, 1), series(1500, 2)
	// Same times as level for the second field, so both share points where times coincide.
	for i := range temp {
		if i%3 == 0 {
			temp[i].t = level[i].t
		}
	}
	other := series(200, 3)
	write := func(t *testing.T, evs []stream.Event) {
		t.Helper()
		for i := 0; i < len(evs); i += 700 { // several writes, like the pipeline's batches
			if err := st.Write(ctx, evs[i:min(i+700, len(evs))]); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
	}
	write(t, events("ct-st-1", kind, map[string][]point{"level": level, "temperature": temp}))
	write(t, events("ct-st-10", kind, map[string][]point{"level": other})) // a device whose ID extends ct-st-1's
	write(t, events("ct-other-kind", "salinity", map[string][]point{"level": other}))

	all := func(e string) stream.ReadingQuery {
		return stream.ReadingQuery{Entity: e, Field: "level", From: base, To: base.Add(7 * 24 * time.Hour)}
	}
	mid := level[400].t
	tests := []struct {
		name string
		q    stream.ReadingQuery
		ref  []point
		want int // expected length, to check the reference itself
	}{
		{"raw all", all("ct-st-1"), level, 1500},
		{"raw second field", stream.ReadingQuery{Entity: "ct-st-1", Field: "temperature", From: base, To: base.Add(7 * 24 * time.Hour)}, temp, 1500},
		{"raw other device same kind", all("ct-st-10"), other, 200},
		{"raw other kind", all("ct-other-kind"), other, 200},
		{"from inclusive to exclusive", stream.ReadingQuery{Entity: "ct-st-1", Field: "level", From: level[10].t, To: level[20].t}, level, 10},
		{"from and to between samples", stream.ReadingQuery{Entity: "ct-st-1", Field: "level", From: level[10].t.Add(time.Millisecond), To: level[20].t.Add(time.Millisecond)}, level, 10},
		{"range with nothing", stream.ReadingQuery{Entity: "ct-st-1", Field: "level", From: base.Add(-time.Hour), To: base}, level, 0},
		{"unknown device", all("ct-nobody"), nil, 0},
		{"unknown field", stream.ReadingQuery{Entity: "ct-st-1", Field: "nothing", From: base, To: base.Add(7 * 24 * time.Hour)}, nil, 0},
		{"raw limit", withLimit(all("ct-st-1"), 25), level, 25},
		{"window limit", withAgg(withLimit(all("ct-st-1"), 3), time.Hour, "count"), level, 3},
		{"windows from unaligned from", withAgg(stream.ReadingQuery{Entity: "ct-st-1", Field: "level", From: mid, To: mid.Add(5 * time.Hour)}, time.Hour, "mean"), level, -1},
	}
	for _, every := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
		for _, agg := range stream.Aggs {
			tests = append(tests, struct {
				name string
				q    stream.ReadingQuery
				ref  []point
				want int
			}{fmt.Sprintf("every %s %s", every, agg), withAgg(all("ct-st-1"), every, agg), level, -1})
		}
	}
	// Calendar windows in Asia/Ho_Chi_Minh: an Origin at local midnight on a Monday makes days start at
	// 00:00 +07:00 (17:00 UTC), not 07:00, and weeks on Mondays.
	vn := time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)
	monday := time.Date(2024, 1, 1, 0, 0, 0, 0, vn)
	for _, every := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
		for _, agg := range []string{"count", "max"} {
			q := withAgg(all("ct-st-1"), every, agg)
			q.Origin = monday
			name := fmt.Sprintf("local windows of %s %s", every, agg)
			tests = append(tests, struct {
				name string
				q    stream.ReadingQuery
				ref  []point
				want int
			}{name, q, level, -1})
			t.Run(name+" start at local midnight", func(t *testing.T) {
				got, err := st.Readings(ctx, q)
				if err != nil || len(got) == 0 {
					t.Fatalf("readings: %d samples, %v", len(got), err)
				}
				for _, s := range got {
					local := s.Time.In(vn)
					if local.Hour() != 0 || local.Minute() != 0 || (every > 24*time.Hour && local.Weekday() != time.Monday) {
						t.Fatalf("window starts at %s local, want midnight (a Monday for weeks)", local.Format(time.RFC3339))
					}
				}
			})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := reference(tt.ref, tt.q)
			if tt.want >= 0 && len(want) != tt.want {
				t.Fatalf("reference gives %d samples, test expects %d: the fixture is wrong", len(want), tt.want)
			}
			got, err := st.Readings(ctx, tt.q)
			if err != nil {
				t.Fatalf("readings: %v", err)
			}
			same(t, got, want)
		})
	}

	t.Run("rewrites are idempotent", func(t *testing.T) {
		evs := events("ct-st-rw", kind, map[string][]point{"level": level[:300]})
		write(t, evs)
		write(t, evs) // a redelivery
		q := stream.ReadingQuery{Entity: "ct-st-rw", Field: "level", From: base, To: base.Add(7 * 24 * time.Hour)}
		got, err := st.Readings(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, reference(level[:300], q))
		// A rewrite of one reading with a new value replaces it.
		changed := slices.Clone(level[:300])
		changed[42].v = 1234.5
		write(t, events("ct-st-rw", kind, map[string][]point{"level": changed[42:43]}))
		got, err = st.Readings(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, reference(changed, q))
		cq := withAgg(q, 24*time.Hour, "count")
		got, err = st.Readings(ctx, cq)
		if err != nil {
			t.Fatal(err)
		}
		same(t, got, reference(changed, cq))
	})

	t.Run("bad queries are refused", func(t *testing.T) {
		for _, q := range []stream.ReadingQuery{
			{Field: "level", From: base, To: base.Add(time.Hour)},
			{Entity: "ct-st-1", From: base, To: base.Add(time.Hour)},
			{Entity: "ct-st-1", Field: "level", From: base, To: base},
			withAgg(all("ct-st-1"), time.Hour, "median"),
		} {
			if got, err := st.Readings(ctx, q); err == nil {
				t.Errorf("%+v: got %d samples and no error", q, len(got))
			}
		}
	})
}

func withLimit(q stream.ReadingQuery, n int) stream.ReadingQuery { q.Limit = n; return q }

func withAgg(q stream.ReadingQuery, every time.Duration, agg string) stream.ReadingQuery {
	q.Every, q.Agg = every, agg
	return q
}

// same compares samples: equal times, values within float rounding.
func same(t *testing.T, got, want []stream.Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d\n got: %v\nwant: %v", len(got), len(want), head(got), head(want))
	}
	for i := range got {
		if !got[i].Time.Equal(want[i].Time) || math.Abs(got[i].Value-want[i].Value) > 1e-9*max(1, math.Abs(want[i].Value)) {
			t.Fatalf("sample %d = %v %v, want %v %v", i, got[i].Time, got[i].Value, want[i].Time, want[i].Value)
		}
	}
}

func head(s []stream.Sample) []stream.Sample { return s[:min(len(s), 5)] }
