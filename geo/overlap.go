package geo

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// DefaultOverlapTolerance is how deep, in metres, two units of one level may overlap before a boundary
// set is refused. The shipped files were simplified at about 5.5 m, so neighbours overlap by a few
// metres at their shared borders; overlaps deeper than this are errors in the data.
const DefaultOverlapTolerance = 50.0

// Overlap is a place where two areas of one level overlap by more than the tolerance: At lies inside
// both, Depth metres from B's border (the first such probe: the overlap may be deeper elsewhere).
type Overlap struct {
	A, B  *Area
	At    orb.Point
	Depth float64 // metres
}

func (o Overlap) String() string {
	return fmt.Sprintf("areas %s (%s) and %s (%s) of level %s overlap: [%.6f, %.6f] is %.0f m inside both",
		o.A.Code, o.A.Name, o.B.Code, o.B.Name, o.A.Level, o.At[0], o.At[1], o.Depth)
}

// Overlaps finds pairs of areas of one level that overlap deeper than tol metres; one finding per pair
// (the first probe found), ordered by codes. The probes are every vertex of each area and the centres
// of up to 16 of its raster's inside cells (which finds an area duplicated under another code, whose
// vertices all lie on the other's border). A probe of A counts when every raster cell of B within tol
// of it is wholly inside B: then B's border is more than tol away and their interiors overlap, so
// there are no false findings. The check costs a few cell reads per probe; the price is that an
// overlap is only certain to be found when deeper than tol plus one cell of B's raster (a commune's
// cells are some tens of metres, a province's up to a kilometre). Slivers of a few metres along
// simplified shared borders pass.
func (s *Areas) Overlaps(tol float64) []Overlap {
	found := map[[2]*Area]Overlap{}
	probe := func(a *Area, p orb.Point) {
		s.tree.Search(p, p, func(_, _ [2]float64, b *Area) bool {
			if b == a || b.level != a.level || !b.grid.deepInside(p, tol) {
				return true
			}
			k := [2]*Area{a, b}
			if b.Code < a.Code {
				k = [2]*Area{b, a}
			}
			if _, ok := found[k]; !ok { // one finding per pair is enough
				found[k] = Overlap{A: k[0], B: k[1], At: p, Depth: borderDistance(b.Geom, p)}
			}
			return true
		})
	}
	for _, a := range s.list {
		for _, poly := range a.Geom {
			for _, r := range poly {
				for _, p := range r {
					probe(a, p)
				}
			}
		}
		for _, p := range a.grid.insidePoints(16) {
			probe(a, p)
		}
	}
	out := make([]Overlap, 0, len(found))
	for _, o := range found {
		out = append(out, o)
	}
	slices.SortFunc(out, func(x, y Overlap) int {
		return cmp.Or(cmp.Compare(x.A.Code, y.A.Code), cmp.Compare(x.B.Code, y.B.Code))
	})
	return out
}

// metresPerDegree converts degrees of latitude to metres (and of longitude, times cos(lat)).
const metresPerDegree = 111_320.0

// borderDistance returns the distance in metres from p to the nearest edge of mp.
func borderDistance(mp orb.MultiPolygon, p orb.Point) float64 {
	kx := math.Cos(p[1]*math.Pi/180) * metresPerDegree
	best := math.Inf(1)
	for _, poly := range mp {
		for _, r := range poly {
			for i := 0; i+1 < len(r); i++ {
				ax, ay := (r[i][0]-p[0])*kx, (r[i][1]-p[1])*metresPerDegree
				dx, dy := (r[i+1][0]-r[i][0])*kx, (r[i+1][1]-r[i][1])*metresPerDegree
				t := 0.0
				if l := dx*dx + dy*dy; l > 0 {
					t = min(max(-(ax*dx+ay*dy)/l, 0), 1)
				}
				best = min(best, math.Hypot(ax+t*dx, ay+t*dy))
			}
		}
	}
	return best
}
