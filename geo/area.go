// Package geo is ioc's geography: admin areas loaded from GeoJSON with whatever levels the data has
// (province → district → commune, or province → commune after the 2025 reform), point lookup with an
// R-tree bbox pass followed by exact point-in-polygon, the enrichment stage that tags events with their
// area codes, a live spatial index of entities, grid clustering for zoomed-out map views, and geofences
// with enter/exit/inside detection.
//
// Coordinates are [lon, lat] (orb.Point order) in WGS84 everywhere.
package geo

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	"github.com/tidwall/rtree"

	"github.com/ioc-vn/ioc/stream"
)

// Area is one admin area. Geom is in [lon, lat]; Size is its planar area in square degrees, used to
// choose deterministically between slightly overlapping simplified boundaries.
type Area struct {
	Code   string
	Name   string
	Level  string // any label the data uses: province, district, commune, ward …
	Parent string // code of the enclosing area; empty for a root
	Type   string // Tỉnh, Huyện, Thành phố, Xã … (informative)
	Geom   orb.MultiPolygon
	Bound  orb.Bound
	Size   float64

	level int    // index into Areas.levels
	index int    // feature index in its file, for messages
	file  string // the file it was read from, for messages; empty when built in code
	grid  *grid
}

// where names the area in messages: its file and feature when read from one, else its code and name.
func (a *Area) where() string {
	if a.file != "" {
		return fmt.Sprintf("%s: features[%d] (code %s, %s)", a.file, a.index, a.Code, a.Name)
	}
	return fmt.Sprintf("area %q (%s)", a.Code, a.Name)
}

// Contains reports whether p ([lon, lat]) is inside the area or on its boundary.
func (a *Area) Contains(p orb.Point) bool {
	if !a.Bound.Contains(p) {
		return false
	}
	switch a.grid.at(p) {
	case cellIn:
		return true
	case cellOut:
		return false
	}
	if a.grid != nil {
		return a.grid.contains(a.Geom, p)
	}
	return planar.MultiPolygonContains(a.Geom, p)
}

// Better reports whether a should be chosen over b when a point lies in both (overlapping simplified
// borders): the smaller area wins, then the smaller code. The rule is total, so every lookup of the
// same point gives the same answer.
func Better(a, b *Area) bool {
	if a.Size != b.Size {
		return a.Size < b.Size
	}
	return a.Code < b.Code
}

// Areas is an immutable set of admin areas with a spatial index. Reloading builds a new set; readers
// holding the old one keep a consistent view. Safe for concurrent use.
type Areas struct {
	list   []*Area // by level depth, then code
	byCode map[string]*Area
	levels []string // from the top of the hierarchy down
	tree   rtree.RTreeG[*Area]
}

// New indexes areas. Codes must be unique; a parent, when given, must be one of the areas. Levels are
// ordered by their depth in the parent hierarchy (roots first), so any hierarchy the data has works.
func New(areas []*Area) (*Areas, error) {
	s := &Areas{byCode: make(map[string]*Area, len(areas))}
	var errs []error
	for _, a := range areas {
		if first := s.byCode[a.Code]; first != nil {
			errs = append(errs, fmt.Errorf("%s: duplicate code (first at %s)", a.where(), first.where()))
			continue
		}
		s.byCode[a.Code] = a
	}
	depth := map[string]int{} // level → smallest depth seen
	for _, a := range areas {
		d := 0
		for p, seen := a.Parent, 0; p != ""; seen++ {
			pa := s.byCode[p]
			if pa == nil {
				errs = append(errs, fmt.Errorf("%s: parent %q is not a known area", a.where(), p))
				break
			}
			if seen > len(areas) {
				errs = append(errs, fmt.Errorf("%s: parent chain loops", a.where()))
				break
			}
			d++
			p = pa.Parent
		}
		if old, ok := depth[a.Level]; !ok || d < old {
			depth[a.Level] = d
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for lvl := range depth {
		s.levels = append(s.levels, lvl)
	}
	slices.SortFunc(s.levels, func(a, b string) int {
		return cmp.Or(cmp.Compare(depth[a], depth[b]), cmp.Compare(a, b))
	})
	for _, a := range areas {
		a.level = slices.Index(s.levels, a.Level)
		a.Bound = a.Geom.Bound()
		a.Size = planar.Area(a.Geom)
		if a.grid == nil {
			a.grid = newGrid(a.Geom, a.Bound)
		}
		s.tree.Insert(a.Bound.Min, a.Bound.Max, a)
	}
	s.list = slices.Clone(areas)
	slices.SortFunc(s.list, func(a, b *Area) int { return cmp.Or(cmp.Compare(a.level, b.level), cmp.Compare(a.Code, b.Code)) })
	return s, nil
}

// Levels returns the level labels from the top of the hierarchy down.
func (s *Areas) Levels() []string { return slices.Clone(s.levels) }

// Len is the number of areas.
func (s *Areas) Len() int { return len(s.list) }

// Get returns the area with the code.
func (s *Areas) Get(code string) (*Area, bool) {
	a, ok := s.byCode[code]
	return a, ok
}

// List returns the areas of a level (every area for ""), ordered by level then code.
func (s *Areas) List(level string) []*Area {
	out := make([]*Area, 0, len(s.list))
	for _, a := range s.list {
		if level == "" || a.Level == level {
			out = append(out, a)
		}
	}
	return out
}

// Locate returns, for each level (in Levels order), the area containing p ([lon, lat]) or nil. When
// overlapping boundaries put p in several areas of one level, Better picks. dst is reused when large
// enough.
func (s *Areas) Locate(p orb.Point, dst []*Area) []*Area {
	if cap(dst) < len(s.levels) {
		dst = make([]*Area, len(s.levels))
	}
	dst = dst[:len(s.levels)]
	clear(dst)
	s.tree.Search(p, p, func(_, _ [2]float64, a *Area) bool {
		if cur := dst[a.level]; (cur == nil || Better(a, cur)) && a.Contains(p) {
			dst[a.level] = a
		}
		return true
	})
	return dst
}

// Codes returns the area code of p ([lon, lat]) for every level; a level with no area containing p
// gets stream.AreaOutside, so a point outside every boundary is tagged, never dropped.
func (s *Areas) Codes(p orb.Point) map[string]string {
	var buf [4]*Area
	found := s.Locate(p, buf[:0])
	out := make(map[string]string, len(found))
	for i, a := range found {
		if a == nil {
			out[s.levels[i]] = stream.AreaOutside
		} else {
			out[s.levels[i]] = a.Code
		}
	}
	return out
}

// Search calls fn for every area whose bounding box intersects b, until fn returns false.
func (s *Areas) Search(b orb.Bound, fn func(*Area) bool) {
	s.tree.Search(b.Min, b.Max, func(_, _ [2]float64, a *Area) bool { return fn(a) })
}

// under reports whether a lies below the area with code anc in the parent hierarchy.
func (s *Areas) under(a *Area, anc string) bool {
	for p := a.Parent; p != ""; {
		if p == anc {
			return true
		}
		pa := s.byCode[p]
		if pa == nil {
			return false
		}
		p = pa.Parent
	}
	return false
}

// hasChildren reports whether some area has code as its parent.
func (s *Areas) hasChildren(code string) bool {
	if code == "" {
		return false
	}
	for _, a := range s.list {
		if a.Parent == code {
			return true
		}
	}
	return false
}

// lineage returns the codes of a and its ancestors by level.
func (s *Areas) lineage(a *Area) map[string]string {
	out := map[string]string{}
	for ; a != nil; a = s.byCode[a.Parent] {
		out[a.Level] = a.Code
		if a.Parent == "" {
			break
		}
	}
	return out
}
