package geo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/geo/geotest"
	"github.com/ioc-vn/ioc/stream"
)

// benchLocate looks up random points inside bound; it reports ns/op per point.
func benchLocate(b *testing.B, s *geo.Areas, bound orb.Bound) {
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([]orb.Point, 4096)
	for i := range pts {
		pts[i] = orb.Point{bound.Min[0] + rng.Float64()*(bound.Max[0]-bound.Min[0]), bound.Min[1] + rng.Float64()*(bound.Max[1]-bound.Min[1])}
	}
	buf := make([]*geo.Area, 0, 4)
	// Per-point durations of one pass over the points give the percentiles (time.Now costs a few tens
	// of ns, small next to a lookup); ns/op is the plain loop's mean.
	lat := make([]time.Duration, len(pts))
	for i, p := range pts {
		t0 := time.Now()
		buf = s.Locate(p, buf)
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		buf = s.Locate(pts[i&4095], buf)
	}
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkLocateBenTre: area lookup per point on Bến Tre (province + 9 districts), points spread over
// the province's bounding box (target ≤ 2 µs).
func BenchmarkLocateBenTre(b *testing.B) {
	s, err := geo.Load("../configs/admin/83.geojson")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := s.Get("83")
	benchLocate(b, s, p.Bound)
}

// BenchmarkLocateSynthetic: lookup among 1,000 overlapping star polygons of 256 vertices (target ≤ 20 µs).
func BenchmarkLocateSynthetic(b *testing.B) {
	bound := orb.Bound{Min: orb.Point{105, 9}, Max: orb.Point{107, 11}}
	s, err := geo.New(geotest.Synthetic(rand.New(rand.NewPCG(7, 7)), bound, 1000, 256))
	if err != nil {
		b.Fatal(err)
	}
	benchLocate(b, s, bound)
}

// BenchmarkViewportQuery: the entities inside a city-sized viewport (0.1° × 0.1°) out of 100,000
// spread over a province (1° × 1°).
func BenchmarkViewportQuery(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := geo.NewIndex[int]()
	for i := range 100_000 {
		x.Set(fmt.Sprintf("e%d", i), orb.Point{106 + rng.Float64(), 9.7 + rng.Float64()}, i)
	}
	ids := make([]string, 0, 2048)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		c := orb.Point{106 + rng.Float64()*0.9, 9.7 + rng.Float64()*0.9}
		ids = x.Query(orb.Bound{Min: c, Max: orb.Point{c[0] + 0.1, c[1] + 0.1}}, ids[:0])
		n += len(ids)
	}
	b.ReportMetric(float64(n)/float64(b.N), "entities/op")
}

// BenchmarkClusterProvince: clusters of all 100,000 entities of a province-wide view at zoom 9.
func BenchmarkClusterProvince(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := geo.NewIndex[string]()
	for i := range 100_000 {
		x.Set(fmt.Sprintf("e%d", i), orb.Point{106 + rng.Float64(), 9.7 + rng.Float64()}, "salinity")
	}
	view := orb.Bound{Min: orb.Point{105.9, 9.6}, Max: orb.Point{107.1, 10.8}}
	clusters := 0
	for b.Loop() {
		g := geo.NewGrid(9)
		x.Search(view, func(_ string, p orb.Point, kind string) bool {
			g.Add(p, kind, "")
			return true
		})
		clusters = len(g.List())
	}
	b.ReportMetric(float64(clusters), "clusters")
}

// BenchmarkEnrich: the enrichment stage on events of 1,000 static sensors in Bến Tre (the per-device
// cache answers) and of 1,000 moving ones (every event a lookup).
func BenchmarkEnrich(b *testing.B) {
	s, err := geo.Load("../configs/admin/83.geojson")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := s.Get("83")
	rng := rand.New(rand.NewPCG(4, 4))
	pts := make([]orb.Point, 1000)
	for i := range pts {
		pts[i] = orb.Point{p.Bound.Min[0] + rng.Float64()*(p.Bound.Max[0]-p.Bound.Min[0]), p.Bound.Min[1] + rng.Float64()*(p.Bound.Max[1]-p.Bound.Min[1])}
	}
	ids := make([]string, len(pts))
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
	}
	for _, tc := range []struct {
		name   string
		moving bool
	}{{"static", false}, {"moving", true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := geo.NewEnricher(geo.Single(s), nil)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % len(pts)
				loc := pts[k]
				if tc.moving {
					loc = pts[(i/len(pts)+k)%len(pts)]
				}
				ev := stream.Event{Entity: ids[k], Location: loc, HasLocation: true}
				if err := e.Process(context.Background(), &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
