package geo

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/paulmach/orb"
)

// CellsPerTile is how many cluster cells span one web-map tile's width: at zoom z a cell is
// 360/2^z/CellsPerTile degrees wide, so a 1,000-pixel-wide view holds about 16 cells across.
const CellsPerTile = 4

// severityRank orders alarm severities (the alarm component's vocabulary); unknown ones rank lowest.
var severityRank = map[string]int{"warning": 1, "minor": 2, "major": 3, "critical": 4}

// Worse reports whether severity a is worse than b.
func Worse(a, b string) bool { return severityRank[a] > severityRank[b] }

// Cluster is a group of entities in one grid cell: how many of each kind, the worst active alarm
// severity among them (empty when none), their bounding box and mean position ([lon, lat]).
type Cluster struct {
	ID       string         `json:"id"`
	Count    int            `json:"count"`
	Kinds    map[string]int `json:"kinds"`
	Severity string         `json:"severity,omitempty"`
	Bound    orb.Bound      `json:"-"`
	Center   orb.Point      `json:"-"`
}

// Grid groups points into square cells aligned to a world-wide grid, so clusters stay put while the
// view pans. Build one per query with NewGrid, Add every entity, then List.
type Grid struct {
	zoom  int
	size  float64
	cells map[[2]int64]*cellAcc
}

type cellAcc struct {
	c      Cluster
	sx, sy float64
}

// CellSize is the cluster cell width in degrees at zoom.
func CellSize(zoom int) float64 { return 360 / math.Exp2(float64(zoom)) / CellsPerTile }

// NewGrid returns an empty grid for zoom.
func NewGrid(zoom int) *Grid {
	return &Grid{zoom: zoom, size: CellSize(zoom), cells: map[[2]int64]*cellAcc{}}
}

// Add counts one entity of kind at p; severity is its alarm severity ("" when it is no active alarm).
func (g *Grid) Add(p orb.Point, kind, severity string) {
	k := [2]int64{int64(math.Floor((p[0] + 180) / g.size)), int64(math.Floor((p[1] + 90) / g.size))}
	a := g.cells[k]
	if a == nil {
		a = &cellAcc{c: Cluster{ID: fmt.Sprintf("z%d:%d:%d", g.zoom, k[0], k[1]), Kinds: map[string]int{},
			Bound: orb.Bound{Min: p, Max: p}}}
		g.cells[k] = a
	}
	a.c.Count++
	a.c.Kinds[kind]++
	if Worse(severity, a.c.Severity) {
		a.c.Severity = severity
	}
	a.c.Bound = a.c.Bound.Extend(p)
	a.sx += p[0]
	a.sy += p[1]
}

// List returns the clusters ordered by ID.
func (g *Grid) List() []Cluster {
	out := make([]Cluster, 0, len(g.cells))
	for _, a := range g.cells {
		c := a.c
		c.Center = orb.Point{a.sx / float64(c.Count), a.sy / float64(c.Count)}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Cluster) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
