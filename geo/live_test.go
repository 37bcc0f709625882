package geo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/geo/geotest"
	"github.com/ioc-vn/ioc/stream"
)

func TestEnricherTagsAndCaches(t *testing.T) {
	areas := loadAll(t)
	e := geo.NewEnricher(geo.Single(areas), prometheus.NewRegistry())
	for _, tc := range []struct {
		name string
		ev   stream.Event
		want map[string]string
	}{
		{"static sensor in Bến Tre city", stream.Event{Entity: "s1", Location: orb.Point{106.3759, 10.2415}, HasLocation: true},
			map[string]string{"province": "83", "district": "829"}},
		{"same sensor again (cached)", stream.Event{Entity: "s1", Location: orb.Point{106.3759, 10.2415}, HasLocation: true},
			map[string]string{"province": "83", "district": "829"}},
		{"same sensor moved to Phan Thiết", stream.Event{Entity: "s1", Location: orb.Point{108.1021, 10.9289}, HasLocation: true},
			map[string]string{"province": "60", "district": "593"}},
		{"at sea: outside, kept", stream.Event{Entity: "boat", Location: orb.Point{107.2, 9.5}, HasLocation: true},
			map[string]string{"province": stream.AreaOutside, "district": stream.AreaOutside}},
		{"no location: untouched", stream.Event{Entity: "x"}, nil},
		{"areas already set: untouched", stream.Event{Entity: "alarm-1", Location: orb.Point{106.3759, 10.2415}, HasLocation: true,
			Areas: map[string]string{"district": "831"}}, map[string]string{"district": "831"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			if err := e.Process(context.Background(), &ev); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ev.Areas) != fmt.Sprint(tc.want) {
				t.Fatalf("areas = %v, want %v", ev.Areas, tc.want)
			}
		})
	}
	// A reload with different areas must not serve the cached codes.
	only, err := geo.Load("../configs/admin/60.geojson")
	if err != nil {
		t.Fatal(err)
	}
	e.Swap(geo.Single(only))
	ev := stream.Event{Entity: "s2", Location: orb.Point{106.3759, 10.2415}, HasLocation: true}
	if err := e.Process(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
	ev2 := stream.Event{Entity: "s1", Location: orb.Point{108.1021, 10.9289}, HasLocation: true}
	_ = e.Process(context.Background(), &ev2)
	if ev.Areas["province"] != stream.AreaOutside || ev2.Areas["district"] != "593" {
		t.Fatalf("after reload: %v %v", ev.Areas, ev2.Areas)
	}
}

// TestIndexMatchesBruteForce moves, removes and queries random entities and compares every query
// with a scan of all points.
func TestIndexMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := geo.NewIndex[string]()
	points := map[string]orb.Point{}
	rnd := func() orb.Point { return orb.Point{106 + rng.Float64(), 10 + rng.Float64()} }
	for i := range 3000 {
		id := fmt.Sprintf("e%d", i)
		points[id] = rnd()
		x.Set(id, points[id], "k")
	}
	for round := range 200 {
		for range 50 { // moves, including to the same place
			id := fmt.Sprintf("e%d", rng.IntN(3000))
			p := rnd()
			if rng.IntN(5) == 0 {
				p = points[id]
			}
			if _, ok := points[id]; !ok {
				continue
			}
			prev, _, had := x.Set(id, p, "k")
			if !had || prev != points[id] {
				t.Fatalf("Set(%s): prev %v had %v, want %v", id, prev, had, points[id])
			}
			points[id] = p
		}
		for range 5 {
			id := fmt.Sprintf("e%d", rng.IntN(3000))
			_, _, had := x.Remove(id)
			_, want := points[id]
			if had != want {
				t.Fatalf("Remove(%s) = %v, want %v", id, had, want)
			}
			delete(points, id)
		}
		c := rnd()
		b := orb.Bound{Min: c, Max: orb.Point{c[0] + rng.Float64()*0.3, c[1] + rng.Float64()*0.3}}
		if round%10 == 0 { // a box whose edges pass exactly through entities
			ids := slices.Collect(func(yield func(string) bool) {
				for id := range points {
					if !yield(id) {
						return
					}
				}
			})
			sort.Strings(ids)
			p1, p2 := points[ids[0]], points[ids[1]]
			b = orb.Bound{Min: orb.Point{min(p1[0], p2[0]), min(p1[1], p2[1])}, Max: orb.Point{max(p1[0], p2[0]), max(p1[1], p2[1])}}
		}
		got := x.Query(b, nil)
		sort.Strings(got)
		if want := geotest.Within(points, b); !slices.Equal(got, want) {
			t.Fatalf("round %d: query %v: %d ids, brute force %d", round, b, len(got), len(want))
		}
	}
	if x.Len() != len(points) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(points))
	}
}

func TestGridClusterCountsAddUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	g := geo.NewGrid(9)
	kinds := []string{"salinity", "camera", "alarm"}
	total := map[string]int{}
	for i := range 5000 {
		k := kinds[i%3]
		sev := ""
		if k == "alarm" {
			sev = []string{"warning", "minor", "major", "critical"}[rng.IntN(4)]
		}
		g.Add(orb.Point{106 + rng.Float64()*0.8, 9.8 + rng.Float64()*0.5}, k, sev)
		total[k]++
	}
	cs := g.List()
	if len(cs) < 4 || len(cs) > 400 {
		t.Fatalf("%d clusters for 5000 points at zoom 9", len(cs))
	}
	sum := map[string]int{}
	n := 0
	for _, c := range cs {
		n += c.Count
		k := 0
		for kind, v := range c.Kinds {
			sum[kind] += v
			k += v
		}
		if k != c.Count {
			t.Fatalf("cluster %s: kinds add to %d, count %d", c.ID, k, c.Count)
		}
		if !c.Bound.Contains(c.Center) {
			t.Fatalf("cluster %s: centre %v outside bbox %v", c.ID, c.Center, c.Bound)
		}
		if c.Kinds["alarm"] > 0 && c.Severity == "" {
			t.Fatalf("cluster %s has alarms but no severity", c.ID)
		}
	}
	if n != 5000 || fmt.Sprint(sum) != fmt.Sprint(total) {
		t.Fatalf("clusters hold %d (%v), want 5000 (%v)", n, sum, total)
	}
	g2 := geo.NewGrid(9)
	g2.Add(orb.Point{106, 10}, "alarm", "minor")
	g2.Add(orb.Point{106.0001, 10}, "alarm", "critical")
	g2.Add(orb.Point{106.0002, 10}, "alarm", "major")
	if c := g2.List(); len(c) != 1 || c[0].Severity != "critical" {
		t.Fatalf("worst severity: %+v", c)
	}
}

func TestFencesDetect(t *testing.T) {
	square := orb.MultiPolygon{{{{106, 10}, {106.1, 10}, {106.1, 10.1}, {106, 10.1}, {106, 10}}}}
	f, err := geo.NewFences([]geo.Fence{
		{ID: "port", Name: "Cảng cá", Geom: square},
		{ID: "yard", Name: "Bãi xe", Detect: []string{"enter", "exit", "inside"}, Kinds: []string{"truck"}, Geom: square},
	}, 16, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan stream.Event, 32)
	go func() {
		_ = f.Run(ctx, func(_ context.Context, b stream.Batch) error {
			for _, ev := range b.Events {
				got <- ev
			}
			return nil
		})
	}()
	in, out := orb.Point{106.05, 10.05}, orb.Point{106.2, 10.05}
	for _, tc := range []struct {
		name string
		ev   stream.Event
		want []string // fence:detect:object
	}{
		{"truck starts outside", stream.Event{Entity: "t1", Kind: "truck", Location: out, HasLocation: true}, nil},
		{"truck enters", stream.Event{Entity: "t1", Kind: "truck", Location: in, HasLocation: true}, []string{"port:enter:t1", "yard:enter:t1"}},
		{"truck stays inside", stream.Event{Entity: "t1", Kind: "truck", Location: orb.Point{106.06, 10.06}, HasLocation: true}, []string{"yard:inside:t1"}},
		{"truck leaves", stream.Event{Entity: "t1", Kind: "truck", Location: out, HasLocation: true}, []string{"port:exit:t1", "yard:exit:t1"}},
		{"boat enters (not a truck)", stream.Event{Entity: "b1", Kind: "boat", Location: in, HasLocation: true}, []string{"port:enter:b1"}},
		{"on the edge is inside", stream.Event{Entity: "b2", Kind: "boat", Location: orb.Point{106, 10.05}, HasLocation: true}, []string{"port:enter:b2"}},
		{"alarm events are not objects", stream.Event{Entity: "a1", Type: stream.TypeAlarm, Location: in, HasLocation: true}, nil},
		{"no location", stream.Event{Entity: "t9", Kind: "truck"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.Process(ctx, &tc.ev); err != nil {
				t.Fatal(err)
			}
			var seen []string
			for range tc.want {
				select {
				case ev := <-got:
					if ev.Type != stream.TypeGeofence || !ev.HasLocation {
						t.Fatalf("bad detection event %+v", ev)
					}
					seen = append(seen, ev.Attrs["fence"]+":"+ev.Attrs["detect"]+":"+ev.Attrs["object"])
				case <-time.After(5 * time.Second):
					t.Fatalf("got %v, want %v", seen, tc.want)
				}
			}
			select {
			case ev := <-got:
				t.Fatalf("unexpected detection %v", ev.Attrs)
			case <-time.After(20 * time.Millisecond):
			}
			sort.Strings(seen)
			if !slices.Equal(seen, tc.want) {
				t.Fatalf("got %v, want %v", seen, tc.want)
			}
		})
	}
	if _, err := geo.NewFences([]geo.Fence{{ID: "bad", Name: "x", Detect: []string{"cross"},
		Geom: orb.MultiPolygon{{{{0, 0}, {1, 0}, {0, 0}}}}}}, 1, nil); err == nil {
		t.Fatal("bad fence accepted")
	}
}
