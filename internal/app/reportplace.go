package app

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/report"
)

// placeByName places an address-only Open311 request in the admin areas in use now (they may be
// reloaded): by the names its address holds (report.NamePlacer).
func (a *App) placeByName(address string) (orb.Point, string, bool) {
	return report.NamePlacer(placeAreas(a.Geo.Areas()))(address)
}

// placeAreas lists every area with a point inside it: its centroid, or a vertex of its boundary
// when the centroid falls outside (a crescent-shaped commune).
func placeAreas(areas *geo.Areas) []report.PlaceArea {
	var out []report.PlaceArea
	for _, level := range areas.Levels() {
		for _, ar := range areas.List(level) {
			p, _ := planar.CentroidArea(ar.Geom)
			if !ar.Contains(p) && len(ar.Geom) > 0 && len(ar.Geom[0]) > 0 && len(ar.Geom[0][0]) > 0 {
				p = ar.Geom[0][0][0]
			}
			out = append(out, report.PlaceArea{Code: ar.Code, Name: ar.Name, Type: ar.Type, Level: ar.Level, Parent: ar.Parent, Point: p})
		}
	}
	return out
}
