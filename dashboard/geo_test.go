package dashboard

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/stream"
)

type geoServer struct {
	srv    *Server
	hub    *Hub
	areas  atomic.Pointer[geo.Areas]
	reload func() error
}

func newGeoServer(t *testing.T, initial []Item) *geoServer {
	t.Helper()
	set, err := geo.Load("../configs/admin/83.geojson")
	if err != nil {
		t.Fatal(err)
	}
	fences, err := geo.NewFences(nil, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &geoServer{}
	g.areas.Store(set)
	g.hub, _ = testHub(t, HubConfig{}, initial)
	g.reload = func() error { return nil }
	g.srv, err = NewServer("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)), Deps{Hub: g.hub,
		Geo: &GeoDeps{Areas: g.areas.Load, Reload: func() error { return g.reload() }, Fences: fences}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.srv.ln.Close() })
	// The hub indexes its snapshot when Run starts; wait until it has.
	for deadline := time.Now().Add(5 * time.Second); g.hub.Entities().Len() < countLocated(initial); {
		if time.Now().After(deadline) {
			t.Fatal("hub never indexed its snapshot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g
}

func countLocated(items []Item) int {
	n := 0
	for _, it := range items {
		if it.Location != nil {
			n++
		}
	}
	return n
}

func (g *geoServer) do(t *testing.T, method, target, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	g.srv.Handler().ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	var out map[string]any
	if rec.Code != http.StatusNoContent {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, target, rec.Code, rec.Body.String(), err)
		}
	}
	return rec.Code, out
}

func TestGeoRoutes(t *testing.T) {
	city := item("s1", "salinity", stream.TypeTelemetry, 106.3759, 10.2415)
	city.Areas = map[string]string{"province": "83", "district": "829"}
	city.Attrs = map[string]string{"state": "ok"}
	al := item("al1", "alarm", stream.TypeAlarm, 106.3760, 10.2416)
	al.Attrs = map[string]string{"state": "active_unack", "severity": "major"}
	g := newGeoServer(t, []Item{city, al, item("s2", "salinity", stream.TypeTelemetry, 106.5939, 10.0431), item("far", "rain", stream.TypeTelemetry, 108, 12)})
	for _, tc := range []struct {
		name, target string
		status       int
		check        func(t *testing.T, body map[string]any)
	}{
		{"all areas", "/api/v1/areas", 200, func(t *testing.T, b map[string]any) {
			if b["type"] != "FeatureCollection" || len(b["features"].([]any)) != 10 {
				t.Fatalf("%v features", len(b["features"].([]any)))
			}
		}},
		{"districts simplified for zoom 8", "/api/v1/areas?level=district&zoom=8", 200, func(t *testing.T, b map[string]any) {
			fs := b["features"].([]any)
			if len(fs) != 9 {
				t.Fatalf("%d districts", len(fs))
			}
			full, _ := g.areas.Load().Get("829")
			geom := fs[0].(map[string]any)["geometry"].(map[string]any)
			ring := geom["coordinates"].([]any)[0].([]any)[0].([]any)
			if len(ring) >= len(full.Geom[0][0]) || len(ring) < 4 {
				t.Fatalf("simplified ring has %d positions, full %d", len(ring), len(full.Geom[0][0]))
			}
		}},
		{"unknown level", "/api/v1/areas?level=commune", 400, nil},
		{"boundaries: the lowest level, outlines and names only", "/api/v1/boundaries?zoom=10", 200, func(t *testing.T, b map[string]any) {
			fs := b["features"].([]any)
			if b["level"] != "district" || len(fs) != 9 {
				t.Fatalf("level %v, %d features", b["level"], len(fs))
			}
			for _, f := range fs {
				for k := range f.(map[string]any)["properties"].(map[string]any) {
					if k != "code" && k != "name" && k != "level" && k != "parent" && k != "type" {
						t.Fatalf("boundaries carry %q: %v", k, f)
					}
				}
			}
		}},
		{"boundaries of a named level", "/api/v1/boundaries?level=province", 200, func(t *testing.T, b map[string]any) {
			if fs := b["features"].([]any); b["level"] != "province" || len(fs) != 1 {
				t.Fatalf("level %v, %d features", b["level"], len(fs))
			}
		}},
		{"boundaries of an unknown level", "/api/v1/boundaries?level=ward", 400, nil},
		{"bad zoom", "/api/v1/areas?zoom=99", 400, nil},
		{"one area", "/api/v1/areas/829", 200, func(t *testing.T, b map[string]any) {
			if b["properties"].(map[string]any)["name"] != "Thành phố Bến Tre" {
				t.Fatalf("%v", b["properties"])
			}
		}},
		{"no such area", "/api/v1/areas/999", 404, nil},
		{"lookup", "/api/v1/areas/lookup?lon=106.3759&lat=10.2415", 200, func(t *testing.T, b map[string]any) {
			if a := b["areas"].(map[string]any); a["district"] != "829" || a["province"] != "83" {
				t.Fatalf("%v", a)
			}
		}},
		{"lookup at sea", "/api/v1/areas/lookup?lon=107.2&lat=9.5", 200, func(t *testing.T, b map[string]any) {
			if a := b["areas"].(map[string]any); a["district"] != stream.AreaOutside {
				t.Fatalf("%v", a)
			}
		}},
		{"lookup latitude out of range", "/api/v1/areas/lookup?lon=106&lat=91", 400, nil},
		{"lookup not a number", "/api/v1/areas/lookup?lon=abc&lat=10", 400, nil},
		{"summary of the city", "/api/v1/areas/829/summary", 200, func(t *testing.T, b map[string]any) {
			if b["total"] != 2.0 || b["kinds"].(map[string]any)["alarm"] != 1.0 || b["states"].(map[string]any)["active_unack"] != 1.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"summary of the province", "/api/v1/areas/83/summary", 200, func(t *testing.T, b map[string]any) {
			if b["total"] != 3.0 || b["kinds"].(map[string]any)["salinity"] != 2.0 {
				t.Fatalf("%v", b)
			}
		}},
		{"entities in a bbox", "/api/v1/entities?bbox=106.3,10.2,106.4,10.3", 200, func(t *testing.T, b map[string]any) {
			fs := b["features"].([]any)
			if len(fs) != 2 || fs[0].(map[string]any)["id"] != "al1" || fs[1].(map[string]any)["id"] != "s1" {
				t.Fatalf("%v", fs)
			}
			if c := fs[1].(map[string]any)["geometry"].(map[string]any)["coordinates"].([]any); c[0] != 106.3759 {
				t.Fatalf("coordinates %v", c)
			}
		}},
		{"entities of a kind", "/api/v1/entities?kind=salinity", 200, func(t *testing.T, b map[string]any) {
			if fs := b["features"].([]any); len(fs) != 2 {
				t.Fatalf("%d", len(fs))
			}
		}},
		{"entities limit", "/api/v1/entities?limit=1", 200, func(t *testing.T, b map[string]any) {
			if fs := b["features"].([]any); len(fs) != 1 || b["truncated"] != true {
				t.Fatalf("%v", b)
			}
		}},
		{"bbox min > max", "/api/v1/entities?bbox=107,10,106,11", 400, nil},
		{"bbox latitude", "/api/v1/entities?bbox=106,10,107,95", 400, nil},
		{"bbox NaN", "/api/v1/entities?bbox=NaN,10,107,11", 400, nil},
		{"bbox three numbers", "/api/v1/entities?bbox=106,10,107", 400, nil},
		{"unknown layer", "/api/v1/entities?layer=boats", 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := g.do(t, "GET", tc.target, "")
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			if code >= 400 {
				if msg, _ := body["error"].(map[string]any)["message"].(string); msg == "" {
					t.Fatalf("no reason in %v", body)
				}
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func TestReloadAndFenceRoutes(t *testing.T) {
	g := newGeoServer(t, nil)
	bacGiang, err := geo.Load("../configs/admin/24.geojson")
	if err != nil {
		t.Fatal(err)
	}
	g.reload = func() error { g.areas.Store(bacGiang); return nil }
	if code, body := g.do(t, "POST", "/api/v1/admin/areas/reload", ""); code != 200 || body["areas"] != 11.0 {
		t.Fatalf("reload: %d %v", code, body)
	}
	if code, _ := g.do(t, "GET", "/api/v1/areas/213", ""); code != 200 {
		t.Fatalf("after reload Bắc Giang city is %d", code)
	}
	g.reload = func() error { return errors.New("83.geojson: features[3] (code 833): geometry: not closed") }
	if code, body := g.do(t, "POST", "/api/v1/admin/areas/reload", ""); code != 422 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "code 833") {
		t.Fatalf("failed reload: %d %v", code, body)
	}

	const fence = `{"name":"Cảng cá Bình Đại","detect":["enter","exit"],"geometry":{"type":"Polygon","coordinates":[[[106.7,10.1],[106.8,10.1],[106.8,10.2],[106.7,10.1]]]}}`
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"create", "PUT", "/api/v1/geofences/cang", fence, 200},
		{"unclosed ring", "PUT", "/api/v1/geofences/x", `{"name":"x","geometry":{"type":"Polygon","coordinates":[[[106.7,10.1],[106.8,10.1],[106.8,10.2],[106.7,10.2]]]}}`, 400},
		{"unknown detect", "PUT", "/api/v1/geofences/x", strings.Replace(fence, `"exit"`, `"cross"`, 1), 400},
		{"unknown field", "PUT", "/api/v1/geofences/x", `{"name":"x","colour":"red"}`, 400},
		{"id mismatch", "PUT", "/api/v1/geofences/x", `{"id":"y","name":"x"}`, 400},
		{"list", "GET", "/api/v1/geofences", "", 200},
		{"delete", "DELETE", "/api/v1/geofences/cang", "", 204},
		{"delete again", "DELETE", "/api/v1/geofences/cang", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := g.do(t, tc.method, tc.target, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, body)
			}
			if tc.name == "list" {
				fs := body["features"].([]any)
				if len(fs) != 1 || fs[0].(map[string]any)["id"] != "cang" {
					t.Fatalf("%v", body)
				}
			}
		})
	}
}

// TestBoundariesOfCommunes serves the new province's 124 communes, cacheable, as the public base map.
func TestBoundariesOfCommunes(t *testing.T) {
	g := newGeoServer(t, nil)
	set, err := geo.Load("../configs/admin/86-2025.geojson")
	if err != nil {
		t.Fatal(err)
	}
	g.areas.Store(set)
	rec := httptest.NewRecorder()
	g.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/boundaries?zoom=9", nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "public") {
		t.Fatalf("%d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	var fc struct {
		Level    string `json:"level"`
		Features []struct {
			Properties map[string]string `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, f := range fc.Features {
		types[f.Properties["type"]]++
	}
	if fc.Level != "commune" || len(fc.Features) != 124 || types["Xã"] == 0 || types["Phường"] == 0 {
		t.Fatalf("level %q, %d features, types %v", fc.Level, len(fc.Features), types)
	}
}
