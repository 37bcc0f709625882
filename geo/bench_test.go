package geo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/geo/geotest"
	"github.com/ioc-vn/ioc/stream"
)

// benchLocate looks up random points inside bound; it reports ns/op per point. Per-point durations of
// one pass over the points give the percentiles (time.Now costs a few tens of ns, small next to a
// lookup); ns/op is the plain loop's mean.
func benchLocate(b *testing.B, s *geo.Areas, bound orb.Bound) {
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([]orb.Point, 4096)
	for i := range pts {
		pts[i] = orb.Point{bound.Min[0] + rng.Float64()*(bound.Max[0]-bound.Min[0]), bound.Min[1] + rng.Float64()*(bound.Max[1]-bound.Min[1])}
	}
	benchLocatePoints(b, s, pts)
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

// nationalFile is the whole country after the 2025 reform (34 provinces, 3,321 communes, 41 MB). It
// stays in the shared data folder, never in the repository.
const nationalFile = "../../shared/data/admin-2025/vn.geojson"

// inUnits returns n random points, each in the bounding box of a random area of the finest level, so
// that the points lie on land as events do (a box over the whole country is mostly sea).
func inUnits(s *geo.Areas, n int, seed uint64) []orb.Point {
	levels := s.Levels()
	units := s.List(levels[len(levels)-1])
	rng := rand.New(rand.NewPCG(seed, 86))
	pts := make([]orb.Point, n)
	for i := range pts {
		b := units[rng.IntN(len(units))].Bound
		pts[i] = orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
	}
	return pts
}

// benchLocatePoints is benchLocate over given points.
func benchLocatePoints(b *testing.B, s *geo.Areas, pts []orb.Point) {
	buf := make([]*geo.Area, 0, 4)
	lat := make([]time.Duration, len(pts))
	for range 2 { // the first pass warms the caches; the second is measured
		for i, p := range pts {
			t0 := time.Now()
			buf = s.Locate(p, buf)
			lat[i] = time.Since(t0)
		}
	}
	slices.Sort(lat)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		buf = s.Locate(pts[i%len(pts)], buf)
	}
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkLocateVinhLong: area lookup on the real commune geometry of the new Tỉnh Vĩnh Long
// (86-2025.geojson: 1 province + 124 communes), points in random communes' boxes (targets p50 ≤ 1 µs,
// p99 ≤ 20 µs).
func BenchmarkLocateVinhLong(b *testing.B) {
	s, err := geo.Load("../configs/admin/86-2025.geojson")
	if err != nil {
		b.Fatal(err)
	}
	benchLocatePoints(b, s, inUnits(s, 1<<15, 1))
}

// BenchmarkLocateNational: area lookup on vn.geojson (34 provinces + 3,321 communes), points in random
// communes' boxes (targets p50 ≤ 2 µs, p99 ≤ 50 µs).
func BenchmarkLocateNational(b *testing.B) {
	s, err := geo.LoadWith(geo.LoadOptions{OverlapTolerance: 2000}, nationalFile)
	if err != nil {
		b.Fatal(err)
	}
	benchLocatePoints(b, s, inUnits(s, 1<<15, 2))
}

// BenchmarkLoadNational: reading, checking and indexing vn.geojson, with the heap it keeps and the
// process's resident memory once loaded.
func BenchmarkLoadNational(b *testing.B) {
	var s *geo.Areas
	for b.Loop() {
		var err error
		if s, err = geo.LoadWith(geo.LoadOptions{OverlapTolerance: 2000}, nationalFile); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(residentMB(b), "rss-MB")
	b.ReportMetric(float64(s.Len()), "areas")
}

// residentMB is the process's resident set size (VmRSS) in MiB.
func residentMB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
