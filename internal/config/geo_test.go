package config

import (
	"path/filepath"
	"reflect"
	"testing"
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
