// Package geotest holds brute-force references for the geo package's indexes, and generators of
// synthetic areas, for property tests and benchmarks. It is never compiled into the binary.
package geotest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/stream"
)

// Codes is the brute-force answer to geo.Areas.Codes: every area is tested with orb's exact
// point-in-polygon (no bounding boxes, no grid), and geo.Better picks between overlapping areas.
func Codes(areas []*geo.Area, levels []string, p orb.Point) map[string]string {
	best := map[string]*geo.Area{}
	for _, a := range areas {
		// The bounding box only skips areas that cannot hold p (orb's test starts with the same check).
		if !a.Bound.Contains(p) || !planar.MultiPolygonContains(a.Geom, p) {
			continue
		}
		if cur := best[a.Level]; cur == nil || geo.Better(a, cur) {
			best[a.Level] = a
		}
	}
	out := make(map[string]string, len(levels))
	for _, l := range levels {
		out[l] = stream.AreaOutside
		if a := best[l]; a != nil {
			out[l] = a.Code
		}
	}
	return out
}

// Within is the brute-force answer to a bounding-box query over points: the IDs whose point lies in
// b (edges included), sorted.
func Within(points map[string]orb.Point, b orb.Bound) []string {
	var out []string
	for id, p := range points {
		if p[0] >= b.Min[0] && p[0] <= b.Max[0] && p[1] >= b.Min[1] && p[1] <= b.Max[1] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Star returns a closed star-shaped ring of n vertices around c whose radius varies randomly between
// r/2 and r (degrees): a simple polygon with many concave corners, like a simplified boundary.
func Star(rng *rand.Rand, c orb.Point, r float64, n int) orb.Ring {
	ring := make(orb.Ring, 0, n+1)
	for i := range n {
		a := 2 * math.Pi * float64(i) / float64(n)
		d := r * (0.5 + 0.5*rng.Float64())
		ring = append(ring, orb.Point{c[0] + d*math.Cos(a), c[1] + d*math.Sin(a)})
	}
	return append(ring, ring[0])
}

// Synthetic returns n star polygons of the given vertex count scattered over b, some overlapping,
// as one level "zone" of areas with codes z0000, z0001 …
func Synthetic(rng *rand.Rand, b orb.Bound, n, vertices int) []*geo.Area {
	w, h := b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]
	r := math.Sqrt(w*h/float64(n)) * 0.6
	out := make([]*geo.Area, n)
	for i := range out {
		c := orb.Point{b.Min[0] + rng.Float64()*w, b.Min[1] + rng.Float64()*h}
		out[i] = &geo.Area{Code: fmt.Sprintf("z%04d", i), Name: fmt.Sprintf("Vùng %d", i), Level: "zone",
			Geom: orb.MultiPolygon{{Star(rng, c, r, vertices)}}}
	}
	return out
}

// BorderPoints returns points on and right next to the areas' boundaries: every k-th vertex, the
// midpoint of the following edge, and both nudged by ±eps in each axis.
func BorderPoints(areas []*geo.Area, k int, eps float64) []orb.Point {
	var out []orb.Point
	for _, a := range areas {
		for _, poly := range a.Geom {
			for _, ring := range poly {
				for i := 0; i+1 < len(ring); i += k {
					v, mid := ring[i], orb.Point{(ring[i][0] + ring[i+1][0]) / 2, (ring[i][1] + ring[i+1][1]) / 2}
					for _, p := range []orb.Point{v, mid} {
						out = append(out, p,
							orb.Point{p[0] + eps, p[1]}, orb.Point{p[0] - eps, p[1]},
							orb.Point{p[0], p[1] + eps}, orb.Point{p[0], p[1] - eps})
					}
				}
			}
		}
	}
	return out
}
