package geo

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Cell states of a grid.
const (
	cellEdge uint8 = iota // a boundary edge may cross the cell: ask the exact test
	cellIn                // the whole cell is inside the polygon
	cellOut               // the whole cell is outside
)

// grid is a raster over a polygon's bounding box that answers most point-in-polygon questions without
// walking the edges: a cell that no edge's bounding box touches lies wholly inside or wholly outside,
// and its state is decided once with the exact test. Points in cells that an edge may cross fall back
// to orb's exact test, so the answer is always the exact one.
type grid struct {
	min    orb.Point
	sx, sy float64 // cells per degree
	nx, ny int
	cells  []uint8
	rings  []orb.Ring  // every ring of the polygon, for rows
	poly   []int32     // polygon index of each ring
	rows   [][]edgeRef // per row of cells: the edges whose latitude span touches it, by polygon
}

// edgeRef is edge i → i+1 of rings[r].
type edgeRef struct{ r, i int32 }

// fill decides the state of every cell no edge touches with one scanline per row through the cells'
// centres: a cell is inside when an odd number of a polygon's ring crossings lie left of its centre
// (even-odd over the outer ring and its holes), for any polygon of mp. No edge touches such a cell, so
// its centre is never on a boundary and the whole cell shares the centre's answer. The cost is one
// pass over the edges plus the crossings, instead of an exact test per run of cells (which made a
// national load take half a minute).
func (g *grid) fill(mp orb.MultiPolygon) {
	for i, c := range g.cells {
		if c == cellEdge+3 {
			g.cells[i] = cellEdge
		} else {
			g.cells[i] = cellOut
		}
	}
	rows := make([][]float64, g.ny) // crossings of a row's centre line, in cell units
	for _, poly := range mp {
		for y := range rows {
			rows[y] = rows[y][:0]
		}
		for _, r := range poly {
			for i := 0; i+1 < len(r); i++ {
				a, c := r[i], r[i+1]
				if a[1] == c[1] {
					continue
				}
				lo, hi := g.fy(min(a[1], c[1])), g.fy(max(a[1], c[1]))
				for y := max(int(math.Floor(lo-0.5)), 0); y <= min(int(math.Ceil(hi-0.5)), g.ny-1); y++ {
					cy := g.min[1] + (float64(y)+0.5)/g.sy
					if (a[1] > cy) == (c[1] > cy) {
						continue
					}
					x := a[0] + (cy-a[1])*(c[0]-a[0])/(c[1]-a[1])
					rows[y] = append(rows[y], g.fx(x))
				}
			}
		}
		for y, xs := range rows {
			slices.Sort(xs)
			for k := 0; k+1 < len(xs); k += 2 {
				for x := max(int(math.Ceil(xs[k]-0.5)), 0); x < g.nx && float64(x)+0.5 < xs[k+1]; x++ {
					if i := y*g.nx + x; g.cells[i] == cellOut {
						g.cells[i] = cellIn
					}
				}
			}
		}
	}
}

// newGrid rasterises mp over b; nil (always exact) when the bound is degenerate.
func newGrid(mp orb.MultiPolygon, b orb.Bound) *grid {
	w, h := b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]
	if !(w > 1e-9 && h > 1e-9) || math.IsInf(w, 0) || math.IsInf(h, 0) {
		return nil // degenerate or sub-millimetre: the exact test alone is cheap and safe
	}
	vertices := 0
	for _, p := range mp {
		for _, r := range p {
			vertices += len(r)
		}
	}
	side := min(max(int(4*math.Sqrt(float64(vertices))), 16), 256)
	g := &grid{min: b.Min, nx: side, ny: side, sx: float64(side) / w, sy: float64(side) / h}
	g.cells = make([]uint8, side*side)
	const eps = 1e-6 // in cells: an edge ending exactly on a cell line also marks the next cell
	for _, p := range mp {
		for _, r := range p {
			for i := 0; i+1 < len(r); i++ {
				a, c := r[i], r[i+1]
				x0, x1 := g.fx(min(a[0], c[0]))-eps, g.fx(max(a[0], c[0]))+eps
				y0, y1 := g.fy(min(a[1], c[1]))-eps, g.fy(max(a[1], c[1]))+eps
				for y := g.clampY(y0); y <= g.clampY(y1); y++ {
					for x := g.clampX(x0); x <= g.clampX(x1); x++ {
						g.cells[y*g.nx+x] = cellEdge + 3 // marked; states are assigned below
					}
				}
			}
		}
	}
	g.fill(mp)
	g.index(mp)
	return g
}

func (g *grid) fx(lon float64) float64 { return (lon - g.min[0]) * g.sx }
func (g *grid) fy(lat float64) float64 { return (lat - g.min[1]) * g.sy }

func (g *grid) clampX(f float64) int { return min(max(int(math.Floor(f)), 0), g.nx-1) }
func (g *grid) clampY(f float64) int { return min(max(int(math.Floor(f)), 0), g.ny-1) }

// at returns the state of the cell holding p (cellEdge when there is no grid).
func (g *grid) at(p orb.Point) uint8 {
	if g == nil {
		return cellEdge
	}
	return g.cells[g.clampY(g.fy(p[1]))*g.nx+g.clampX(g.fx(p[0]))]
}

// insidePoints returns the centres of up to n cells wholly inside the polygon, spread over the raster.
func (g *grid) insidePoints(n int) []orb.Point {
	if g == nil {
		return nil
	}
	var in []int
	for i, c := range g.cells {
		if c == cellIn {
			in = append(in, i)
		}
	}
	step := max(len(in)/n, 1)
	var out []orb.Point
	for k := 0; k < len(in) && len(out) < n; k += step {
		x, y := in[k]%g.nx, in[k]/g.nx
		out = append(out, orb.Point{g.min[0] + (float64(x)+0.5)/g.sx, g.min[1] + (float64(y)+0.5)/g.sy})
	}
	return out
}

// deepInside reports whether every cell within tol metres of p is wholly inside the polygon, so p is
// more than tol from its border. False without a grid.
func (g *grid) deepInside(p orb.Point, tol float64) bool {
	if g == nil {
		return false
	}
	dx, dy := tol/(math.Cos(p[1]*math.Pi/180)*metresPerDegree), tol/metresPerDegree
	x0, x1 := math.Floor(g.fx(p[0]-dx)), math.Floor(g.fx(p[0]+dx))
	y0, y1 := math.Floor(g.fy(p[1]-dy)), math.Floor(g.fy(p[1]+dy))
	if x0 < 0 || y0 < 0 || x1 >= float64(g.nx) || y1 >= float64(g.ny) {
		return false // the disc leaves the bounding box
	}
	for y := int(y0); y <= int(y1); y++ {
		for x := int(x0); x <= int(x1); x++ {
			if g.cells[y*g.nx+x] != cellIn {
				return false
			}
		}
	}
	return true
}

// index files every edge under the rows of cells its latitude span touches, so the exact test of a
// point looks only at the edges of its row instead of the whole polygon (a national province has tens
// of thousands of vertices; a row has a few hundred edges at most).
func (g *grid) index(mp orb.MultiPolygon) {
	g.rows = make([][]edgeRef, g.ny)
	for pi, poly := range mp {
		for _, r := range poly {
			ri := int32(len(g.rings))
			g.rings, g.poly = append(g.rings, r), append(g.poly, int32(pi))
			for i := 0; i+1 < len(r); i++ {
				a, c := r[i], r[i+1]
				for y := g.clampY(g.fy(min(a[1], c[1])) - 1e-6); y <= g.clampY(g.fy(max(a[1], c[1]))+1e-6); y++ {
					g.rows[y] = append(g.rows[y], edgeRef{ri, int32(i)})
				}
			}
		}
	}
}

// onEdge is how close (degrees, about a micrometre) a point must be to an edge for contains to leave
// the answer to orb's exact test, whose rule for points on a boundary (inside, except on a hole's)
// is the reference.
const onEdge = 1e-11

// contains is the exact point-in-polygon answer for p ([lon, lat]) from the edges of p's row: a
// polygon holds p when a ray from p to the west crosses its rings (outer and holes) an odd number of
// times. Rows list their edges polygon by polygon, so the parity is per polygon. A point within onEdge
// of an edge is answered by orb's planar.MultiPolygonContains, so the boundary rule is orb's.
func (g *grid) contains(mp orb.MultiPolygon, p orb.Point) bool {
	row := g.rows[g.clampY(g.fy(p[1]))]
	odd, cur := false, int32(-1)
	for _, e := range row {
		if pi := g.poly[e.r]; pi != cur {
			if odd {
				return true
			}
			odd, cur = false, pi
		}
		r := g.rings[e.r]
		a, c := r[e.i], r[e.i+1]
		if p[0] >= min(a[0], c[0])-onEdge && p[0] <= max(a[0], c[0])+onEdge &&
			p[1] >= min(a[1], c[1])-onEdge && p[1] <= max(a[1], c[1])+onEdge {
			dx, dy := c[0]-a[0], c[1]-a[1]
			if l := math.Hypot(dx, dy); l == 0 || math.Abs(dx*(p[1]-a[1])-dy*(p[0]-a[0]))/l <= onEdge {
				return planar.MultiPolygonContains(mp, p)
			}
		}
		if (a[1] > p[1]) != (c[1] > p[1]) && a[0]+(p[1]-a[1])*dxdy(a, c) < p[0] {
			odd = !odd
		}
	}
	return odd
}

func dxdy(a, c orb.Point) float64 { return (c[0] - a[0]) / (c[1] - a[1]) }
