package dashboard

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/simplify"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/httpapi"
)

// GeoDeps are what the geo routes serve from.
type GeoDeps struct {
	Areas  func() *geo.Areas // the admin areas in use (they change on reload)
	Reload func() error      // re-reads the configured admin files and puts them in use
	Fences *geo.Fences       // nil: no geofence routes
}

// maxEntities bounds one /api/v1/entities answer.
const maxEntities = 100000

// mountGeo adds the admin area, entity and geofence routes.
func (s *Server) mountGeo(mux *http.ServeMux, h func(httpapi.HandlerFunc) http.Handler) {
	mux.Handle("GET /api/v1/areas", h(s.areas))
	mux.Handle("GET /api/v1/boundaries", h(s.boundaries))
	mux.Handle("GET /api/v1/areas/lookup", h(s.areaLookup))
	mux.Handle("GET /api/v1/areas/{code}", h(s.area))
	mux.Handle("GET /api/v1/areas/{code}/summary", h(s.areaSummary))
	mux.Handle("GET /api/v1/entities", h(s.entities))
	mux.Handle("POST /api/v1/admin/areas/reload", h(s.reloadAreas))
	if s.d.Geo.Fences != nil {
		mux.Handle("GET /api/v1/geofences", h(s.fences))
		mux.Handle("PUT /api/v1/geofences/{id}", h(s.putFence))
		mux.Handle("DELETE /api/v1/geofences/{id}", h(s.deleteFence))
	}
}

// feature is a GeoJSON Feature; geometry is any orb geometry (marshalled by orb's geojson package).
type feature struct {
	Type       string         `json:"type"`
	ID         string         `json:"id,omitempty"`
	Geometry   any            `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

type featureCollection struct {
	Type      string    `json:"type"`
	Features  []feature `json:"features"`
	Truncated bool      `json:"truncated,omitempty"` // foreign member: the answer hit its limit
	Level     string    `json:"level,omitempty"`     // foreign member of /api/v1/boundaries: the level drawn
	Levels    []string  `json:"levels,omitempty"`    // foreign member of /api/v1/boundaries: all levels, top down
}

func areaFeature(a *geo.Area, g orb.Geometry) feature {
	props := map[string]any{"code": a.Code, "name": a.Name, "level": a.Level}
	if a.Parent != "" {
		props["parent"] = a.Parent
	}
	if a.Type != "" {
		props["type"] = a.Type
	}
	return feature{Type: "Feature", ID: a.Code, Geometry: geoJSON(g), Properties: props}
}

// geoJSON marshals an orb geometry as GeoJSON.
func geoJSON(g orb.Geometry) *geojson.Geometry { return geojson.NewGeometry(g) }

// areas serves GET /api/v1/areas?level=&zoom=: the areas as a FeatureCollection, simplified to about
// a pixel at the given map zoom when one is given.
func (s *Server) areas(w http.ResponseWriter, r *http.Request) error {
	set := s.d.Geo.Areas()
	q := r.URL.Query()
	level := q.Get("level")
	if level != "" && !slices.Contains(set.Levels(), level) {
		return httpapi.BadRequest("cấp không có / unknown level %q (one of %s)", level, strings.Join(set.Levels(), ", "))
	}
	tolerance, err := zoomTolerance(q.Get("zoom"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, areaCollection(set, level, tolerance))
}

// boundaries serves GET /api/v1/boundaries?level=&zoom=, the public base map of the staff pages and
// the citizen page: the outlines of one level of the areas in use (the lowest, communes in a
// province → commune set, unless level names another), with code, name, level, type and parent and
// nothing else: no entity, count or state. The answer only changes when the boundaries are reloaded,
// so browsers and proxies may keep it a few minutes.
func (s *Server) boundaries(w http.ResponseWriter, r *http.Request) error {
	set := s.d.Geo.Areas()
	q := r.URL.Query()
	levels := set.Levels()
	level := q.Get("level")
	switch {
	case level == "" && len(levels) > 0:
		level = levels[len(levels)-1]
	case level != "" && !slices.Contains(levels, level):
		return httpapi.BadRequest("cấp không có / unknown level %q (one of %s)", level, strings.Join(levels, ", "))
	}
	tolerance, err := zoomTolerance(q.Get("zoom"))
	if err != nil {
		return err
	}
	fc := areaCollection(set, level, tolerance)
	fc.Level, fc.Levels = level, levels
	w.Header().Set("Cache-Control", "public, max-age=300")
	return httpapi.WriteJSON(w, http.StatusOK, fc)
}

// zoomTolerance is the simplification tolerance of about a pixel at map zoom zs; 0 (none) when zs is empty.
func zoomTolerance(zs string) (float64, error) {
	if zs == "" {
		return 0, nil
	}
	z, err := strconv.ParseFloat(zs, 64)
	if err != nil || math.IsNaN(z) || z < 0 || z > MaxZoom {
		return 0, httpapi.BadRequest("zoom: %q is not a number between 0 and %d", zs, MaxZoom)
	}
	return 360 / math.Exp2(z) / 256, nil // one 256-pixel tile spans 360/2^z degrees
}

// areaCollection is the areas of level (every level when empty) as a FeatureCollection, simplified
// with tolerance when it is positive.
func areaCollection(set *geo.Areas, level string, tolerance float64) featureCollection {
	fc := featureCollection{Type: "FeatureCollection", Features: []feature{}}
	for _, a := range set.List(level) {
		var g orb.Geometry = a.Geom
		if tolerance > 0 {
			g = simplified(a.Geom, tolerance)
		}
		fc.Features = append(fc.Features, areaFeature(a, g))
	}
	return fc
}

// simplified is mp with Douglas-Peucker simplification; rings that collapse are left out, and the
// original is kept when nothing would remain.
func simplified(mp orb.MultiPolygon, tolerance float64) orb.MultiPolygon {
	dp := simplify.DouglasPeucker(tolerance)
	var out orb.MultiPolygon
	for _, p := range mp {
		var poly orb.Polygon
		for i, r := range p {
			sr := dp.Ring(r.Clone())
			if len(sr) < 4 {
				if i == 0 {
					break // the outer ring collapsed: the polygon is below a pixel
				}
				continue
			}
			poly = append(poly, sr)
		}
		if len(poly) > 0 {
			out = append(out, poly)
		}
	}
	if len(out) == 0 {
		return mp
	}
	return out
}

func (s *Server) area(w http.ResponseWriter, r *http.Request) error {
	a, ok := s.d.Geo.Areas().Get(r.PathValue("code"))
	if !ok {
		return httpapi.NotFound("không có đơn vị hành chính / no area with code %q", r.PathValue("code"))
	}
	return httpapi.WriteJSON(w, http.StatusOK, areaFeature(a, a.Geom))
}

// areaLookup serves GET /api/v1/areas/lookup?lon=&lat=.
func (s *Server) areaLookup(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lon, err1 := strconv.ParseFloat(q.Get("lon"), 64)
	lat, err2 := strconv.ParseFloat(q.Get("lat"), 64)
	if err1 != nil || err2 != nil {
		return httpapi.BadRequest("lon and lat must be numbers (WGS84 degrees), got lon=%q lat=%q", q.Get("lon"), q.Get("lat"))
	}
	p := orb.Point{lon, lat}
	if err := geo.CheckPoint(p); err != nil {
		return httpapi.BadRequest("%v", err)
	}
	set := s.d.Geo.Areas()
	type found struct {
		Code  string `json:"code"`
		Name  string `json:"name"`
		Level string `json:"level"`
	}
	out := []found{}
	for _, a := range set.Locate(p, nil) {
		if a != nil {
			out = append(out, found{a.Code, a.Name, a.Level})
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"location": [2]float64{lon, lat}, "areas": set.Codes(p), "found": out})
}

// areaSummary serves GET /api/v1/areas/{code}/summary: entities inside the area counted by kind, by
// layer and by state (alarm state or report status). An entity counts where enrichment placed it;
// one never enriched counts where its position falls. A scoped caller counts only what it may see.
func (s *Server) areaSummary(w http.ResponseWriter, r *http.Request) error {
	a, ok := s.d.Geo.Areas().Get(r.PathValue("code"))
	if !ok {
		return httpapi.NotFound("không có đơn vị hành chính / no area with code %q", r.PathValue("code"))
	}
	kinds, layers, states := map[string]int{}, map[string]int{}, map[string]int{}
	total := 0
	filter := s.scope(r)
	s.d.Hub.Entities().Search(a.Bound, func(_ string, p orb.Point, it Item) bool {
		if code, ok := it.Areas[a.Level]; ok && code != a.Code || !ok && !a.Contains(p) || !sees(filter, it) {
			return true
		}
		total++
		kinds[it.Kind]++
		layers[LayerOf(it.Type)]++
		if st := cmpOr(it.Attrs["state"], it.Attrs["status"]); st != "" {
			states[st]++
		}
		return true
	})
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"code": a.Code, "name": a.Name, "level": a.Level,
		"total": total, "kinds": kinds, "layers": layers, "states": states})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// entities serves GET /api/v1/entities?bbox=minLon,minLat,maxLon,maxLat&kind=&layer=&limit= as a
// GeoJSON FeatureCollection of points (those the caller's scope shows).
func (s *Server) entities(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	b := orb.Bound{Min: orb.Point{-180, -90}, Max: orb.Point{180, 90}}
	if bs := q.Get("bbox"); bs != "" {
		parts := strings.Split(bs, ",")
		v := make([]float64, len(parts))
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return httpapi.BadRequest("bbox: %q is not a number", p)
			}
			v[i] = f
		}
		var err error
		if b, err = geo.BoundOf(v); err != nil {
			return httpapi.BadRequest("%v", err)
		}
	}
	kinds := q["kind"]
	layer := q.Get("layer")
	if layer != "" && !slices.Contains(Layers(), layer) {
		return httpapi.BadRequest("unknown layer %q (one of %s)", layer, strings.Join(Layers(), ", "))
	}
	limit := 10000
	if ls := q.Get("limit"); ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 || n > maxEntities {
			return httpapi.BadRequest("limit: must be between 1 and %d", maxEntities)
		}
		limit = n
	}
	fc := featureCollection{Type: "FeatureCollection", Features: []feature{}}
	filter := s.scope(r)
	s.d.Hub.Entities().Search(b, func(_ string, p orb.Point, it Item) bool {
		if len(kinds) > 0 && !slices.Contains(kinds, it.Kind) || layer != "" && LayerOf(it.Type) != layer || !sees(filter, it) {
			return true
		}
		if len(fc.Features) == limit {
			fc.Truncated = true
			return false
		}
		props := map[string]any{"kind": it.Kind, "type": it.Type, "layer": LayerOf(it.Type), "ts": it.TS, "registered": it.Registered}
		if it.Name != "" {
			props["name"] = it.Name
		}
		for k, v := range map[string]any{"values": it.Values, "attrs": it.Attrs, "areas": it.Areas} {
			props[k] = v
		}
		fc.Features = append(fc.Features, feature{Type: "Feature", ID: it.ID, Geometry: geoJSON(p), Properties: props})
		return true
	})
	slices.SortFunc(fc.Features, func(a, b feature) int { return strings.Compare(a.ID, b.ID) })
	return httpapi.WriteJSON(w, http.StatusOK, fc)
}

func (s *Server) reloadAreas(w http.ResponseWriter, _ *http.Request) error {
	if err := s.d.Geo.Reload(); err != nil {
		return httpapi.Errorf(http.StatusUnprocessableEntity, "invalid_areas", "không nạp được ranh giới / reload failed, the previous areas stay in use: %v", err)
	}
	set := s.d.Geo.Areas()
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"areas": set.Len(), "levels": set.Levels()})
}

// fenceBody is a geofence as the admin API takes and returns it; geometry is a GeoJSON Polygon or
// MultiPolygon in [lon, lat].
type fenceBody struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Detect   []string        `json:"detect,omitempty"`
	Kinds    []string        `json:"kinds,omitempty"`
	Geometry json.RawMessage `json:"geometry"`
}

func (s *Server) fences(w http.ResponseWriter, _ *http.Request) error {
	fc := featureCollection{Type: "FeatureCollection", Features: []feature{}}
	for _, f := range s.d.Geo.Fences.List() {
		fc.Features = append(fc.Features, feature{Type: "Feature", ID: f.ID, Geometry: geoJSON(f.Geom),
			Properties: map[string]any{"name": f.Name, "detect": f.Detect, "kinds": f.Kinds}})
	}
	return httpapi.WriteJSON(w, http.StatusOK, fc)
}

func (s *Server) putFence(w http.ResponseWriter, r *http.Request) error {
	var body fenceBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return httpapi.BadRequest("nội dung không hợp lệ / invalid body: %v", err)
	}
	id := r.PathValue("id")
	if body.ID != "" && body.ID != id {
		return httpapi.BadRequest("id %q in the body differs from %q in the path", body.ID, id)
	}
	geom, err := geo.DecodePolygons(body.Geometry)
	if err != nil {
		return httpapi.BadRequest("geometry: %v", err)
	}
	f := geo.Fence{ID: id, Name: body.Name, Detect: body.Detect, Kinds: body.Kinds, Geom: geom}
	if err := s.d.Geo.Fences.Put(f); err != nil {
		return httpapi.BadRequest("%v", err)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"id": id, "name": f.Name})
}

func (s *Server) deleteFence(w http.ResponseWriter, r *http.Request) error {
	if !s.d.Geo.Fences.Delete(r.PathValue("id")) {
		return httpapi.NotFound("không có vùng rào / no geofence %q", r.PathValue("id"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
