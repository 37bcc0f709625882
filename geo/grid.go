package geo

import (
	"math"

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
	for y := 0; y < g.ny; y++ {
		state := uint8(0) // state of the run of unmarked cells we are in; 0: unknown
		for x := 0; x < g.nx; x++ {
			i := y*g.nx + x
			if g.cells[i] == cellEdge+3 {
				g.cells[i], state = cellEdge, 0
				continue
			}
			if state == 0 {
				// Adjacent cells touched by no edge share one side of the boundary.
				centre := orb.Point{g.min[0] + (float64(x)+0.5)/g.sx, g.min[1] + (float64(y)+0.5)/g.sy}
				state = cellOut
				if planar.MultiPolygonContains(mp, centre) {
					state = cellIn
				}
			}
			g.cells[i] = state
		}
	}
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
