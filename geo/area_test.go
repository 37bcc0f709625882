package geo_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/geo/geotest"
	"github.com/ioc-vn/ioc/stream"
)

var provinces = []string{"../configs/admin/83.geojson", "../configs/admin/24.geojson", "../configs/admin/60.geojson"}

func loadAll(t testing.TB) *geo.Areas {
	t.Helper()
	s, err := geo.Load(provinces...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLevelsComeFromData(t *testing.T) {
	s := loadAll(t)
	if got := strings.Join(s.Levels(), ","); got != "province,district" {
		t.Fatalf("levels = %s, want province,district", got)
	}
	// A three-level hierarchy with made-up labels is just as good: levels are data.
	sq := func(x0, y0, x1, y1 float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
	}
	s2, err := geo.New([]*geo.Area{
		{Code: "c1", Name: "Xã A", Level: "xa", Parent: "r1", Geom: sq(0.1, 0.1, 0.4, 0.4)},
		{Code: "r1", Name: "Vùng", Level: "vung", Geom: sq(0, 0, 1, 1)},
		{Code: "m1", Name: "Miền", Level: "mien", Parent: "", Geom: sq(-1, -1, 2, 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s2.Levels(), ","); got != "mien,vung,xa" && got != "vung,mien,xa" {
		t.Fatalf("levels = %s", got)
	}
	codes := s2.Codes(orb.Point{0.2, 0.2})
	if codes["xa"] != "c1" || codes["vung"] != "r1" || codes["mien"] != "m1" {
		t.Fatalf("codes = %v", codes)
	}
	codes = s2.Codes(orb.Point{0.8, 0.8})
	if codes["xa"] != stream.AreaOutside || codes["vung"] != "r1" {
		t.Fatalf("codes = %v", codes)
	}
}

// TestLocateMatchesBruteForce is the property test: the R-tree + grid + exact lookup must give the
// same codes as testing every polygon with orb, on random points and on and next to every border.
func TestLocateMatchesBruteForce(t *testing.T) {
	real := loadAll(t)
	rng := rand.New(rand.NewPCG(3, 83))
	synth, err := geo.New(geotest.Synthetic(rng, orb.Bound{Min: orb.Point{105, 9}, Max: orb.Point{107, 11}}, 120, 64))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		areas *geo.Areas
	}{
		{"provinces", real},
		{"synthetic", synth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := tc.areas.List("")
			var pts []orb.Point
			for _, a := range all {
				b := a.Bound.Pad(0.02)
				for range 40 {
					pts = append(pts, orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])})
				}
			}
			random := len(pts)
			pts = append(pts, geotest.BorderPoints(all, 53, 1e-9)...)
			pts = append(pts, geotest.BorderPoints(all, 97, 1e-6)...)
			if len(pts)-random < 500 {
				t.Fatalf("only %d border points", len(pts)-random)
			}
			mismatch, inside, outside := 0, 0, 0
			for _, p := range pts {
				got, want := tc.areas.Codes(p), geotest.Codes(all, tc.areas.Levels(), p)
				for _, l := range tc.areas.Levels() {
					if got[l] != want[l] {
						mismatch++
						if mismatch < 10 {
							t.Errorf("%v level %s: index %q, brute force %q", p, l, got[l], want[l])
						}
					}
					if want[l] == stream.AreaOutside {
						outside++
					} else {
						inside++
					}
				}
			}
			if mismatch > 0 {
				t.Fatalf("%d mismatches over %d points", mismatch, len(pts))
			}
			if inside == 0 || outside == 0 {
				t.Fatalf("points not varied: %d inside, %d outside", inside, outside)
			}
			t.Logf("%d points (%d on/next to borders), %d level answers inside, %d outside", len(pts), len(pts)-random, inside, outside)
		})
	}
}

// TestWellKnownPlaces checks real data: town centres resolve to their own district.
func TestWellKnownPlaces(t *testing.T) {
	s := loadAll(t)
	for _, tc := range []struct {
		name     string
		p        orb.Point
		province string
		district string
	}{
		{"Thành phố Bến Tre (Đồng Khởi street)", orb.Point{106.3759, 10.2415}, "Tỉnh Bến Tre", "Thành phố Bến Tre"},
		{"Ba Tri town", orb.Point{106.5939, 10.0431}, "Tỉnh Bến Tre", "Huyện Ba Tri"},
		{"Thành phố Bắc Giang", orb.Point{106.1946, 21.2731}, "Tỉnh Bắc Giang", "Thành phố Bắc Giang"},
		{"Chũ town, Lục Ngạn", orb.Point{106.5866, 21.3714}, "Tỉnh Bắc Giang", "Huyện Lục Ngạn"},
		{"Thành phố Phan Thiết", orb.Point{108.1021, 10.9289}, "Tỉnh Bình Thuận", "Thành phố Phan Thiết"},
		{"La Gi town", orb.Point{107.7700, 10.6600}, "Tỉnh Bình Thuận", "Thị xã La Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found := s.Locate(tc.p, nil)
			var names []string
			for _, a := range found {
				if a == nil {
					names = append(names, stream.AreaOutside)
				} else {
					names = append(names, a.Name)
				}
			}
			if got := strings.Join(names, " / "); got != tc.province+" / "+tc.district {
				t.Fatalf("%v resolves to %s, want %s / %s", tc.p, got, tc.province, tc.district)
			}
			if found[1].Parent != found[0].Code {
				t.Fatalf("district %s has parent %s, province is %s", found[1].Code, found[1].Parent, found[0].Code)
			}
		})
	}
	// Open sea off Bến Tre and a point in Hà Nội are outside every area, and tagged so.
	for _, p := range []orb.Point{{107.2, 9.5}, {105.8542, 21.0285}} {
		if c := s.Codes(p); c["province"] != stream.AreaOutside || c["district"] != stream.AreaOutside {
			t.Fatalf("%v: codes %v, want outside", p, c)
		}
	}
}

func TestOverlapIsDeterministic(t *testing.T) {
	sq := func(x0, y0, x1, y1 float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}}
	}
	for _, tc := range []struct {
		name  string
		areas []*geo.Area
		want  string
	}{
		{"smaller wins", []*geo.Area{{Code: "b", Name: "B", Level: "d", Geom: sq(0, 0, 2, 2)}, {Code: "a", Name: "A", Level: "d", Geom: sq(0.9, 0, 3, 3)}}, "b"},
		{"same size: smaller code", []*geo.Area{{Code: "y", Name: "Y", Level: "d", Geom: sq(0, 0, 2, 2)}, {Code: "x", Name: "X", Level: "d", Geom: sq(0.5, 0, 2.5, 2)}}, "x"},
		{"same size, reversed input", []*geo.Area{{Code: "x", Name: "X", Level: "d", Geom: sq(0.5, 0, 2.5, 2)}, {Code: "y", Name: "Y", Level: "d", Geom: sq(0, 0, 2, 2)}}, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := geo.New(tc.areas)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Codes(orb.Point{1, 1})["d"]; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBadGeoJSONNamesTheFeature(t *testing.T) {
	const good = `{"type":"Feature","properties":{"code":"1","name":"Tỉnh A","level":"province"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}`
	fc := func(features ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
	}
	feature := func(props, geom string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}`
	}
	const props = `{"code":"829","name":"Thành phố Bến Tre","level":"district","parent":"1"}`
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"unclosed ring", fc(good, feature(props, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`)),
			[]string{"features[1] (code 829, Thành phố Bến Tre)", "not closed"}},
		{"too few points", fc(good, feature(props, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]}`)),
			[]string{"features[1] (code 829, Thành phố Bến Tre)", "at least 4"}},
		{"wrong geometry type", fc(feature(props, `{"type":"LineString","coordinates":[[0,0],[1,0]]}`)),
			[]string{"features[0] (code 829, Thành phố Bến Tre)", "want Polygon or MultiPolygon"}},
		{"code is a number", fc(feature(`{"code":829,"name":"Thành phố Bến Tre","level":"district"}`, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`)),
			[]string{"features[0] (Thành phố Bến Tre)", "properties.code: must be a string"}},
		{"missing level", fc(feature(`{"code":"9","name":"X"}`, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`)),
			[]string{"features[0] (code 9, X)", "properties.level: must be set"}},
		{"latitude out of range", fc(feature(props, `{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,95],[0,0]]]}`)),
			[]string{"code 829", "latitude 95 is outside"}},
		{"no geometry", fc(feature(props, `null`)), []string{"code 829", "geometry: must be set"}},
		{"coordinates wrong shape", fc(feature(props, `{"type":"Polygon","coordinates":[0,1]}`)), []string{"code 829", "geometry"}},
		{"not a feature collection", `{"type":"Feature"}`, []string{"test.geojson", "FeatureCollection"}},
		{"not JSON", `{"type":`, []string{"test.geojson", "not a GeoJSON FeatureCollection"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.Decode("test.geojson", []byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := geo.Decode("good.geojson", []byte(fc(good))); err != nil {
		t.Fatalf("good feature: %v", err)
	}
}

func TestNewRejectsBadHierarchy(t *testing.T) {
	sq := orb.MultiPolygon{{{{0, 0}, {1, 0}, {1, 1}, {0, 0}}}}
	for _, tc := range []struct {
		name  string
		areas []*geo.Area
		want  string
	}{
		{"duplicate", []*geo.Area{{Code: "1", Name: "A", Level: "p", Geom: sq}, {Code: "1", Name: "B", Level: "p", Geom: sq}}, "duplicate code"},
		{"unknown parent", []*geo.Area{{Code: "1", Name: "A", Level: "p", Parent: "9", Geom: sq}}, "parent \"9\""},
		{"loop", []*geo.Area{{Code: "1", Name: "A", Level: "p", Parent: "2", Geom: sq}, {Code: "2", Name: "B", Level: "p", Parent: "1", Geom: sq}}, "loops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.New(tc.areas)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1","name":"A","level":"p"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1"},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1]]]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[null,1,"x",{"geometry":{"type":"GeometryCollection","geometries":[]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		areas, err := geo.Decode("fuzz.geojson", data)
		if err != nil {
			return
		}
		s, err := geo.New(areas)
		if err != nil {
			return
		}
		for _, a := range s.List("") {
			c := a.Geom[0][0][0]
			codes := s.Codes(c)
			if codes[a.Level] == stream.AreaOutside {
				t.Fatalf("vertex %v of %s is not found in its own level %s", c, a.Code, a.Level)
			}
		}
	})
}

// TestLocateAgreesOn100000Points is the property test on the real commune geometry of the new
// provinces: 100,000 random points on Tỉnh Vĩnh Long (10,000 on Bắc Ninh and Lâm Đồng, whose large
// province polygons make the reference slow) (in random communes' boxes, so mostly on land and many near
// borders) get the same codes from the index (R-tree, raster, row edges) as from testing every
// polygon with orb's exact point-in-polygon.
func TestLocateAgreesOn100000Points(t *testing.T) {
	for _, tc := range []struct {
		file string
		n    int
	}{{"86-2025", 100_000}, {"24-2025", 10_000}, {"68-2025", 10_000}} {
		f := tc.file
		t.Run(f, func(t *testing.T) {
			s, err := geo.Load("../configs/admin/" + f + ".geojson")
			if err != nil {
				t.Fatal(err)
			}
			all := s.List("")
			communes := s.List("commune")
			rng := rand.New(rand.NewPCG(100_000, uint64(len(all))))
			mismatch, outside := 0, 0
			for range tc.n {
				b := communes[rng.IntN(len(communes))].Bound.Pad(0.005)
				p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
				got, want := s.Codes(p), geotest.Codes(all, s.Levels(), p)
				for _, l := range s.Levels() {
					if got[l] != want[l] {
						if mismatch++; mismatch < 10 {
							t.Errorf("%v level %s: index %q, reference %q", p, l, got[l], want[l])
						}
					}
				}
				if want["commune"] == stream.AreaOutside {
					outside++
				}
			}
			if mismatch > 0 {
				t.Fatalf("%d mismatches", mismatch)
			}
			if outside == 0 || outside > tc.n/2 {
				t.Fatalf("%d of %d points outside every commune: points not varied", outside, tc.n)
			}
		})
	}
}
