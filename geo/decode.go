package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Load reads admin area files (GeoJSON FeatureCollections) and indexes them together with the default
// checks (LoadWith).
func Load(paths ...string) (*Areas, error) { return LoadWith(LoadOptions{}, paths...) }

// LoadWith reads admin area files (GeoJSON FeatureCollections) and indexes them together; one set can
// hold several provinces. Every problem is reported, each naming its file and feature: bad features,
// duplicate codes, unknown parents, and units of one level overlapping deeper than
// opts.OverlapTolerance.
func LoadWith(opts LoadOptions, paths ...string) (*Areas, error) {
	var all []*Area
	var errs []error
	failed := map[string]bool{} // codes of features that did not decode: no "unknown parent" for their children
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("admin areas: %w", err))
			continue
		}
		areas, bad, err := decode(p, data)
		if err != nil {
			errs = append(errs, err)
		}
		for _, c := range bad {
			failed[c] = true
		}
		all = append(all, areas...)
	}
	var keep []*Area
	for _, a := range all {
		if !failed[a.Parent] {
			keep = append(keep, a)
		}
	}
	s, err := New(keep)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admin areas: %w", err)
	}
	tol := opts.OverlapTolerance
	if tol == 0 {
		tol = DefaultOverlapTolerance
	}
	if tol > 0 {
		for _, o := range s.Overlaps(tol) {
			errs = append(errs, fmt.Errorf("%s: %s", o.A.where(), o))
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("admin areas: overlaps deeper than %g m (geo.overlap_tolerance): %w", tol, errors.Join(errs...))
		}
	}
	return s, nil
}

// Decode parses one GeoJSON FeatureCollection of admin areas. Each feature needs string properties
// code, name and level (parent and type are optional) and a Polygon or MultiPolygon geometry whose
// rings are closed, have at least four positions and lie within ±180/±90. Errors name the file (name)
// and the feature by index and code.
func Decode(name string, data []byte) ([]*Area, error) {
	areas, _, err := decode(name, data)
	return areas, err
}

// decode is Decode that also returns the codes of the features that did not decode.
func decode(name string, data []byte) ([]*Area, []string, error) {
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, nil, fmt.Errorf("%s: not a GeoJSON FeatureCollection: %w", name, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, nil, fmt.Errorf("%s: type is %q, want \"FeatureCollection\"", name, fc.Type)
	}
	var out []*Area
	var bad []string
	var errs []error
	for i, raw := range fc.Features {
		a, err := decodeFeature(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: features[%d]%s: %w", name, i, label(raw), err))
			if a != nil && a.Code != "" {
				bad = append(bad, a.Code)
			}
			continue
		}
		a.index, a.file = i, name
		out = append(out, a)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no features", name))
	}
	return out, bad, errors.Join(errs...)
}

type rawFeature struct {
	Type       string          `json:"type"`
	Properties map[string]any  `json:"properties"`
	Geometry   json.RawMessage `json:"geometry"`
}

// label names a feature by its code and name when they can be read, for error messages.
func label(raw json.RawMessage) string {
	var f rawFeature
	if json.Unmarshal(raw, &f) != nil {
		return ""
	}
	code, _ := f.Properties["code"].(string)
	nm, _ := f.Properties["name"].(string)
	switch {
	case code != "" && nm != "":
		return fmt.Sprintf(" (code %s, %s)", code, nm)
	case code != "":
		return fmt.Sprintf(" (code %s)", code)
	case nm != "":
		return fmt.Sprintf(" (%s)", nm)
	}
	return ""
}

func decodeFeature(raw json.RawMessage) (*Area, error) {
	var f rawFeature
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("not a feature: %w", err)
	}
	if f.Type != "Feature" {
		return nil, fmt.Errorf("type is %q, want \"Feature\"", f.Type)
	}
	var errs []error
	prop := func(key string, required bool) string {
		v, ok := f.Properties[key]
		if !ok || v == nil {
			if required {
				errs = append(errs, fmt.Errorf("properties.%s: must be set", key))
			}
			return ""
		}
		s, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("properties.%s: must be a string, not %T", key, v))
		} else if required && s == "" {
			errs = append(errs, fmt.Errorf("properties.%s: must not be empty", key))
		}
		return s
	}
	a := &Area{Code: prop("code", true), Name: prop("name", true), Level: prop("level", true),
		Parent: prop("parent", false), Type: prop("type", false)}
	if a.Parent == a.Code && a.Code != "" {
		errs = append(errs, fmt.Errorf("properties.parent: an area cannot be its own parent"))
	}
	geom, err := DecodePolygons(f.Geometry)
	if err != nil {
		errs = append(errs, fmt.Errorf("geometry: %w", err))
	}
	a.Geom = geom
	if err := errors.Join(errs...); err != nil {
		return a, err // a names the feature's code for the caller; it is not usable
	}
	return a, nil
}

// DecodePolygons decodes a GeoJSON Polygon or MultiPolygon geometry and checks its rings.
func DecodePolygons(raw json.RawMessage) (orb.MultiPolygon, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, errors.New("must be set")
	}
	g, err := geojson.UnmarshalGeometry(raw)
	if err != nil {
		return nil, err
	}
	var mp orb.MultiPolygon
	switch t := g.Geometry().(type) {
	case orb.Polygon:
		mp = orb.MultiPolygon{t}
	case orb.MultiPolygon:
		mp = t
	default:
		return nil, fmt.Errorf("type %s: want Polygon or MultiPolygon", g.Type)
	}
	if len(mp) == 0 {
		return nil, errors.New("has no polygons")
	}
	for i, p := range mp {
		if len(p) == 0 {
			return nil, fmt.Errorf("polygon %d: has no rings", i)
		}
		for j, r := range p {
			if err := CheckRing(r); err != nil {
				return nil, fmt.Errorf("polygon %d ring %d: %w", i, j, err)
			}
		}
	}
	return mp, nil
}

// CheckRing checks that r is a closed ring of at least four valid [lon, lat] positions.
func CheckRing(r orb.Ring) error {
	if len(r) < 4 {
		return fmt.Errorf("has %d positions, a ring needs at least 4", len(r))
	}
	for k, p := range r {
		if err := CheckPoint(p); err != nil {
			return fmt.Errorf("position %d: %w", k, err)
		}
	}
	if r[0] != r[len(r)-1] {
		return fmt.Errorf("is not closed: first position %v differs from last %v", r[0], r[len(r)-1])
	}
	return nil
}

// CheckPoint checks that p is a finite [lon, lat] within ±180 and ±90.
func CheckPoint(p orb.Point) error {
	lon, lat := p[0], p[1]
	switch {
	case math.IsNaN(lon) || math.IsNaN(lat) || math.IsInf(lon, 0) || math.IsInf(lat, 0):
		return errors.New("coordinates must be finite numbers")
	case lon < -180 || lon > 180:
		return fmt.Errorf("longitude %g is outside ±180 (positions are [lon, lat])", lon)
	case lat < -90 || lat > 90:
		return fmt.Errorf("latitude %g is outside ±90 (positions are [lon, lat])", lat)
	}
	return nil
}

// BoundOf checks a bounding box given as [minLon, minLat, maxLon, maxLat] and returns it: four finite
// numbers, longitudes within ±180, latitudes within ±90, min ≤ max on both axes.
func BoundOf(v []float64) (orb.Bound, error) {
	if len(v) != 4 {
		return orb.Bound{}, fmt.Errorf("bbox must be [minLon, minLat, maxLon, maxLat], got %d numbers", len(v))
	}
	lo, hi := orb.Point{v[0], v[1]}, orb.Point{v[2], v[3]}
	if err := CheckPoint(lo); err != nil {
		return orb.Bound{}, fmt.Errorf("bbox min: %w", err)
	}
	if err := CheckPoint(hi); err != nil {
		return orb.Bound{}, fmt.Errorf("bbox max: %w", err)
	}
	if lo[0] > hi[0] {
		return orb.Bound{}, fmt.Errorf("bbox minLon %g is greater than maxLon %g", lo[0], hi[0])
	}
	if lo[1] > hi[1] {
		return orb.Bound{}, fmt.Errorf("bbox minLat %g is greater than maxLat %g", lo[1], hi[1])
	}
	return orb.Bound{Min: lo, Max: hi}, nil
}
