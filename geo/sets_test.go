package geo_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/stream"
)

var (
	ict    = time.FixedZone("", 7*3600)
	reform = time.Date(2025, 7, 1, 0, 0, 0, 0, ict)
	anHoi  = orb.Point{106.3759, 10.2415} // Đồng Khởi street: Thành phố Bến Tre (829) before, Phường An Hội (28777) after
)

// demoSpecs are the demo's sets: old Bến Tre with districts before 1 July 2025, the new Tỉnh Vĩnh Long
// with communes from then, and the crosswalk between them.
func demoSpecs() []geo.SetSpec {
	return []geo.SetSpec{
		{Name: "vinh-long-2025", Files: []string{"../configs/admin/86-2025.geojson"}, From: reform,
			Crosswalk: "../configs/admin/crosswalk-2025-86.csv"},
		{Name: "ben-tre-2024", Files: []string{"../configs/admin/83.geojson"}, To: reform},
	}
}

func loadDemo(t testing.TB) *geo.Sets {
	t.Helper()
	s, err := geo.LoadSets(demoSpecs(), geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSetChosenByEventTime: each event gets the codes of the set in force at its own timestamp, and the
// levels are those of that set's data.
func TestSetChosenByEventTime(t *testing.T) {
	sets := loadDemo(t)
	if got := sets.List()[0].Name; got != "ben-tre-2024" {
		t.Fatalf("earliest set = %s, want ben-tre-2024 (sets are ordered by validity)", got)
	}
	e := geo.NewEnricher(sets, nil)
	for _, tc := range []struct {
		name string
		at   time.Time
		want map[string]string
	}{
		{"2025-06-30: the old district", time.Date(2025, 6, 30, 12, 0, 0, 0, ict), map[string]string{"province": "83", "district": "829"}},
		{"the last second before the reform", reform.Add(-time.Second), map[string]string{"province": "83", "district": "829"}},
		{"2025-07-01 00:00 +07:00: the new commune", reform, map[string]string{"province": "86", "commune": "28777"}},
		{"2026: the new commune", time.Date(2026, 3, 1, 0, 0, 0, 0, ict), map[string]string{"province": "86", "commune": "28777"}},
		{"before every set: the earliest", time.Date(1990, 1, 1, 0, 0, 0, 0, ict), map[string]string{"province": "83", "district": "829"}},
		{"same sensor back in June (cache keyed by set)", time.Date(2025, 6, 1, 0, 0, 0, 0, ict), map[string]string{"province": "83", "district": "829"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := stream.Event{Entity: "s1", Time: tc.at, Location: anHoi, HasLocation: true}
			if err := e.Process(context.Background(), &ev); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(ev.Areas, tc.want) {
				t.Fatalf("areas = %v, want %v", ev.Areas, tc.want)
			}
		})
	}
	cur := sets.Current()
	if cur.Name != "vinh-long-2025" || strings.Join(cur.Areas.Levels(), ",") != "province,commune" {
		t.Fatalf("current set %s, levels %v", cur.Name, cur.Areas.Levels())
	}
	types := map[string]int{}
	for _, a := range cur.Areas.List("commune") {
		types[a.Type]++
	}
	if len(cur.Areas.List("commune")) != 124 || types["Xã"] == 0 || types["Phường"] == 0 {
		t.Fatalf("communes %d, unit types %v", len(cur.Areas.List("commune")), types)
	}
}

// TestCrosswalkToCurrent: history stored under old codes is re-expressed in the current set: where its
// point falls when known, else as the crosswalk attributes it.
func TestCrosswalkToCurrent(t *testing.T) {
	sets := loadDemo(t)
	june := time.Date(2025, 6, 15, 8, 0, 0, 0, ict)
	old := map[string]string{"province": "83", "district": "829"}
	for _, tc := range []struct {
		name     string
		at       time.Time
		codes    map[string]string
		p        orb.Point
		hasPoint bool
		want     map[string]string
	}{
		{"old codes, point known: where the point falls", june, old, anHoi, true, map[string]string{"province": "86", "commune": "28777"}},
		{"old codes, point in another new commune of the same district", june, old, orb.Point{106.3883, 10.2436}, true, nil},
		{"old codes, no point: the crosswalk's primary (most old communes)", june, old, orb.Point{}, false, map[string]string{"province": "86", "commune": "28756"}},
		{"old province only: the new province", june, map[string]string{"province": "83", "district": stream.AreaOutside}, orb.Point{}, false, map[string]string{"province": "86"}},
		{"current codes stay", reform, map[string]string{"province": "86", "commune": "29110"}, anHoi, true, map[string]string{"province": "86", "commune": "29110"}},
		{"unknown code: nil", june, map[string]string{"province": "99"}, orb.Point{}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sets.ToCurrent(tc.at, tc.codes, tc.p, tc.hasPoint)
			if tc.want == nil && tc.hasPoint {
				// A different commune of old district 829, whichever: it must be one the district went into.
				cw := sets.Current().Crosswalk
				if got == nil || got["commune"] == "28777" || !slices.Contains(cw.To("829"), got["commune"]) {
					t.Fatalf("got %v, want another commune of %v", got, cw.To("829"))
				}
				return
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// A query for Phường An Hội over history also looks for the old district and wards that went into it.
	if src := sets.Sources("28777"); !slices.Contains(src, "829") || len(src) < 2 {
		t.Fatalf("Phường An Hội has sources %v: want old district 829 and its old wards", src)
	}
	if src := sets.Sources("86"); !slices.Contains(src, "83") {
		t.Fatalf("Tỉnh Vĩnh Long has sources %v: want old Bến Tre (83)", src)
	}
}

// TestBadSetsListEveryProblem: bad boundary files and crosswalks are refused with every problem named
// (file, feature or line, code), and a good set of the same list is not enough to pass.
func TestBadSetsListEveryProblem(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sq := func(x0, y0, x1, y1 string) string {
		return `{"type":"Polygon","coordinates":[[[` + x0 + `,` + y0 + `],[` + x1 + `,` + y0 + `],[` + x1 + `,` + y1 + `],[` + x0 + `,` + y1 + `],[` + x0 + `,` + y0 + `]]]}`
	}
	feature := func(code, name, level, parent, geom string) string {
		p := ""
		if parent != "" {
			p = `,"parent":"` + parent + `"`
		}
		return `{"type":"Feature","properties":{"code":"` + code + `","name":"` + name + `","level":"` + level + `"` + p + `},"geometry":` + geom + `}`
	}
	fc := func(fs ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`
	}
	province := feature("1", "Tỉnh A", "province", "", sq("106", "10", "106.2", "10.2"))
	good := write("good.geojson", fc(province,
		feature("11", "Xã B", "commune", "1", sq("106", "10", "106.1", "10.2")),
		feature("12", "Xã C", "commune", "1", sq("106.1", "10", "106.2", "10.2"))))
	header := "old_province,old_district,old_commune,new_province,new_commune\n"
	for _, tc := range []struct {
		name  string
		specs []geo.SetSpec
		want  []string
	}{
		{"overlap beyond the tolerance", []geo.SetSpec{{Name: "s", Files: []string{write("overlap.geojson", fc(province,
			feature("11", "Xã B", "commune", "1", sq("106", "10", "106.15", "10.2")),
			feature("12", "Xã C", "commune", "1", sq("106.1", "10", "106.2", "10.2"))))}}},
			[]string{"overlap.geojson", "code 11, Xã B", "12 (Xã C)", "overlap", "geo.overlap_tolerance"}},
		{"the same unit under two codes", []geo.SetSpec{{Name: "s", Files: []string{write("twice.geojson", fc(province,
			feature("11", "Xã B", "commune", "1", sq("106", "10", "106.1", "10.2")),
			feature("13", "Xã B (bản sao)", "commune", "1", sq("106", "10", "106.1", "10.2"))))}}},
			[]string{"twice.geojson", "11 (Xã B) and 13"}},
		{"unknown parent, duplicate code, invalid geometry, together", []geo.SetSpec{{Name: "s", Files: []string{write("many.geojson", fc(province,
			feature("11", "Xã B", "commune", "9", sq("106", "10", "106.1", "10.2")),
			feature("12", "Xã C", "commune", "1", `{"type":"Polygon","coordinates":[[[106,10],[106.1,10],[106.1,10.1]]]}`),
			feature("1", "Tỉnh A lần hai", "province", "", sq("107", "10", "107.2", "10.2"))))}}},
			[]string{"many.geojson: features[2] (code 12, Xã C): geometry", "parent \"9\"", "features[3] (code 1, Tỉnh A lần hai): duplicate code"}},
		{"overlapping validity", []geo.SetSpec{
			{Name: "a", Files: []string{good}, To: reform.AddDate(0, 1, 0)},
			{Name: "b", Files: []string{good}, From: reform}},
			[]string{"set b: validity overlaps set a"}},
		{"two sets since ever", []geo.SetSpec{{Name: "a", Files: []string{good}}, {Name: "b", Files: []string{good}}},
			[]string{"both start since ever"}},
		{"crosswalk on the earliest set", []geo.SetSpec{{Name: "a", Files: []string{good},
			Crosswalk: write("cw0.csv", header+"1,,01,1,11\n")}},
			[]string{"cw0.csv", "earliest set has no set before it"}},
		{"crosswalk naming codes no set has", []geo.SetSpec{
			{Name: "old", Files: []string{good}, To: reform},
			{Name: "new", Files: []string{good}, From: reform, Crosswalk: write("cw.csv", header+
				"1,11,0111,1,11\n"+ // fine: the old set has no communes under 11
				"1,19,0191,1,11\n"+ // old district 19 is not in the old set, which has province 1
				"5,51,0511,1,77\n"+ // new commune 77 is in no set
				"5,51,0512,8,12\n")}, // new province 8 is in no set
		},
			[]string{"cw.csv: line 3: old_district 19", "cw.csv: line 4: new_commune 77 is not an area of set new", "cw.csv: line 5: new_province 8"}},
		{"crosswalk without its columns", []geo.SetSpec{{Name: "old", Files: []string{good}, To: reform},
			{Name: "new", Files: []string{good}, From: reform, Crosswalk: write("cols.csv", "old,new\n1,1\n")}},
			[]string{"cols.csv: header: column old_province is missing", "column new_commune is missing"}},
		{"crosswalk rows missing codes", []geo.SetSpec{{Name: "old", Files: []string{good}, To: reform},
			{Name: "new", Files: []string{good}, From: reform, Crosswalk: write("empty.csv", header+"1,11,,1,11\n1,11,0111,1,\n")}},
			[]string{"empty.csv: line 2: old_commune: must be set", "empty.csv: line 3: new_commune: must be set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.LoadSets(tc.specs, geo.LoadOptions{})
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
	// The shipped files' few-metre slivers load; so does a good pair of sets.
	if _, err := geo.LoadSets([]geo.SetSpec{{Name: "old", Files: []string{good}, To: reform},
		{Name: "new", Files: []string{good}, From: reform, Crosswalk: write("ok.csv", header+"1,11,0111,1,11\n1,11,0112,1,12\n")}}, geo.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"86-2025", "24-2025", "68-2025"} {
		if _, err := geo.Load("../configs/admin/" + f + ".geojson"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnricherSwapSets: a reload puts the new sets in use at once (no cached old codes).
func TestEnricherSwapSets(t *testing.T) {
	old, err := geo.Load("../configs/admin/83.geojson")
	if err != nil {
		t.Fatal(err)
	}
	e := geo.NewEnricher(geo.Single(old), nil)
	ev := stream.Event{Entity: "s", Time: reform.AddDate(0, 2, 0), Location: anHoi, HasLocation: true}
	if err := e.Process(context.Background(), &ev); err != nil || ev.Areas["district"] != "829" {
		t.Fatalf("areas %v, %v", ev.Areas, err)
	}
	e.Swap(loadDemo(t))
	ev = stream.Event{Entity: "s", Time: reform.AddDate(0, 2, 0), Location: anHoi, HasLocation: true}
	if err := e.Process(context.Background(), &ev); err != nil || ev.Areas["commune"] != "28777" {
		t.Fatalf("after swap: areas %v, %v", ev.Areas, err)
	}
	if got := e.CodesAt(reform.Add(-time.Hour), anHoi)["district"]; got != "829" {
		t.Fatalf("CodesAt before the reform: district %q", got)
	}
}
