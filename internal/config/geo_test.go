package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/geo"
)

// The example documents the geo defaults: loading it must give exactly them.
func TestExampleGeoIsDefault(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "configs", "ioc.example.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default().Geo
	want.Geofences = []Geofence{} // the example writes "geofences: []"
	if !reflect.DeepEqual(cfg.Geo, want) {
		t.Fatalf("example geo %+v differs from defaults %+v", cfg.Geo, want)
	}
}

// TestProvinceConfigsLoad: the shipped province configs validate and their boundary sets and
// crosswalks load (every crosswalk code in its sets), with the new province in force now.
func TestProvinceConfigsLoad(t *testing.T) {
	for _, tc := range []struct{ file, province, set string }{
		{"demo.yaml", "86", "vinh-long-2025"},
		{"bac-ninh.yaml", "24", "bac-ninh-2025"},
		{"lam-dong.yaml", "68", "lam-dong-2025"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "..", "configs", tc.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			specs := cfg.Geo.Specs()
			for i := range specs {
				for j, f := range specs[i].Files {
					specs[i].Files[j] = filepath.Join("..", "..", f)
				}
				if specs[i].Crosswalk != "" {
					specs[i].Crosswalk = filepath.Join("..", "..", specs[i].Crosswalk)
				}
			}
			sets, err := geo.LoadSets(specs, geo.LoadOptions{OverlapTolerance: cfg.Geo.OverlapTolerance})
			if err != nil {
				t.Fatal(err)
			}
			cur := sets.Current()
			if cur.Name != tc.set || cur.Crosswalk == nil {
				t.Fatalf("set in force %s (crosswalk %v), want %s with its crosswalk", cur.Name, cur.Crosswalk != nil, tc.set)
			}
			if p, ok := cur.Areas.Get(tc.province); !ok || p.Type != "Tỉnh" {
				t.Fatalf("province %s not in set %s", tc.province, cur.Name)
			}
		})
	}
}

// TestBoundarySetsValidate: bad boundary_sets are reported with their key path, all at once.
func TestBoundarySetsValidate(t *testing.T) {
	cfg := Default()
	from := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	cfg.Geo.BoundarySets = []BoundarySet{
		{Name: "a", Files: []string{"a.geojson"}, EffectiveTo: from.AddDate(0, 1, 0)},
		{Name: "b", EffectiveFrom: from, Crosswalk: "x.csv"},
		{Name: "b", Files: []string{""}, EffectiveFrom: from.AddDate(1, 0, 0), EffectiveTo: from},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("valid")
	}
	for _, want := range []string{
		"geo.boundary_sets[1] (b).files: must list at least one GeoJSON file",
		"geo.boundary_sets[2] (b).files[0]: must not be empty",
		"geo.boundary_sets: set b: validity overlaps set a",
		"geo.boundary_sets: set b: duplicate name",
		"geo.boundary_sets: set b: effective_to 2025-07-01T00:00:00Z is not after effective_from 2026-07-01T00:00:00Z",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	cfg = Default()
	cfg.Geo.AdminFiles = []string{"x.geojson"}
	cfg.Geo.BoundarySets = cfg.Geo.BoundarySets[:1]
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "geo.admin_files: set admin_files (one set valid at all times) or boundary_sets, not both") {
		t.Fatalf("both admin_files and boundary_sets: %v", err)
	}
}
