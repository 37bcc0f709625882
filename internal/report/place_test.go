package report

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

func TestNamePlacer(t *testing.T) {
	place := NamePlacer(testPlaces)
	for _, tc := range []struct {
		name, address, want string
	}{
		{"commune and its district", "Số 5 đường Hùng Vương, Phường 3, Thành phố Bến Tre", "82903"},
		{"the other Phường 3", "ấp 1, phường 3, huyện Giồng Trôm, tỉnh Bến Tre", "83403"},
		{"a commune named once", "Xã TÂN THẠCH", "83103"},
		{"a district named without its type", "ấp 2, Châu Thành", "831"},
		{"decomposed diacritics", "x\u00e3 Ta\u0302n Tha\u0323ch", "83103"},
		{"ambiguous without its district", "Phường 3", ""},
		{"whole words only", "Phường 30, Quận 3", ""},
		{"no commune: a district is not enough", "Thành phố Bến Tre", "829"},
		{"nothing known", "123 Lê Lợi, Hà Nội", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, ok := place(tc.address)
			if code != tc.want || ok != (tc.want != "") {
				t.Errorf("place(%q) = %q %v, want %q", tc.address, code, ok, tc.want)
			}
		})
	}
}

type o311Error struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// TestOpen311PlacesAndRefuses: an address-only request is placed in the commune it names and
// flagged; a request without a place, outside the province or for another jurisdiction is refused,
// each problem with its own error object.
func TestOpen311PlacesAndRefuses(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateDevice.Burst = 100; c.RateIP.Burst = 100 })
			key := e.apiKey()
			post := func(edit func(url.Values)) (resp, []o311Error) {
				v := potholeForm(key)
				edit(v)
				r := e.postForm("/open311/v2/requests.json", v, nil)
				var errs []o311Error
				if r.status >= 400 {
					mustJSONDecode(t, r.body, &errs)
				}
				return r, errs
			}

			r, _ := post(func(v url.Values) {
				v.Del("lat")
				v.Del("long")
				v.Set("address_string", "Số 5 đường Hùng Vương, Phường 3, Thành phố Bến Tre")
				v.Set("jurisdiction_id", "bentre.gov.vn")
			})
			var created []o311Created
			mustJSONDecode(t, r.body, &created)
			if r.status != http.StatusCreated || len(created) != 1 {
				t.Fatalf("address-only: %d %s", r.status, r.body)
			}
			var id int64
			if err := json.Unmarshal([]byte(created[0].ID), &id); err != nil {
				t.Fatal(err)
			}
			rep := e.operatorGet(id).Report
			if rep.LocatedBy != LocatedByAddress || rep.Location != (orb.Point{106.3801, 10.2402}) || rep.Areas["district"] != "829" ||
				rep.Unit != "Phòng Quản lý đô thị Thành phố Bến Tre" {
				t.Fatalf("address-only report: located_by %q at %v in %v, unit %q", rep.LocatedBy, rep.Location, rep.Areas, rep.Unit)
			}
			if gps := e.operatorGet(mustSubmit(t, e)).Report; gps.LocatedBy != LocatedByGPS {
				t.Errorf("a report with coordinates: located_by %q", gps.LocatedBy)
			}

			for _, tc := range []struct {
				name string
				edit func(url.Values)
				want []o311Error
			}{
				{"no place at all", func(v url.Values) { v.Del("lat"); v.Del("long"); v.Del("address_string") },
					[]o311Error{{400, "lat and long, or address_string, are required"}}},
				{"an address naming no single commune", func(v url.Values) { v.Del("lat"); v.Del("long"); v.Set("address_string", "Phường 3") },
					[]o311Error{{400, "address_string: no single commune of bentre.gov.vn is named in it"}}},
				{"Hà Nội is far outside", func(v url.Values) { v.Set("lat", "21.0285"); v.Set("long", "105.8542") },
					[]o311Error{{400, "lat, long: the location is outside bentre.gov.vn"}}},
				{"several problems, several errors", func(v url.Values) {
					v.Set("jurisdiction_id", "hanoi.gov.vn")
					v.Set("lat", "21.0285")
					v.Set("long", "105.8542")
					v.Set("attribute[size]", "huge")
					v.Set("media_url", "ftp://x")
				}, []o311Error{
					{404, `jurisdiction_id "hanoi.gov.vn" was not found`},
					{400, "lat, long: the location is outside bentre.gov.vn"},
					{400, "media_url: must be an http(s) URL"},
					{400, "attribute[size]"},
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r, errs := post(tc.edit)
					if r.status != tc.want[0].Code || len(errs) != len(tc.want) {
						t.Fatalf("%d %s, want %d errors", r.status, r.body, len(tc.want))
					}
					for i, w := range tc.want {
						if errs[i].Code != w.Code || !strings.Contains(errs[i].Description, w.Description) {
							t.Errorf("error %d: %+v, want %+v", i, errs[i], w)
						}
					}
				})
			}
			x := e.postForm("/open311/v2/requests.xml", url.Values{"api_key": {key}}, nil)
			if x.status != 400 || strings.Count(x.body, "<error>") != 2 {
				t.Errorf("xml errors: %d %s", x.status, x.body)
			}
			if g := e.get("/open311/v2/services.json?jurisdiction_id=hanoi.gov.vn"); g.status != 404 || !strings.Contains(g.body, "jurisdiction_id") {
				t.Errorf("GET for another jurisdiction: %d %s", g.status, g.body)
			}
			if g := e.get("/open311/v2/services.json?jurisdiction_id=bentre.gov.vn"); g.status != 200 {
				t.Errorf("GET for ours: %d %s", g.status, g.body)
			}
		})
	}
}

func mustSubmit(t *testing.T, e *env) int64 {
	t.Helper()
	r, s := e.submit(nil, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	return s.ID
}

// TestLinksFollowThePublicURL: with no public_url the discovery URL and photo links are built
// from the request; with one, from it. Never http://localhost:8080.
func TestLinksFollowThePublicURL(t *testing.T) {
	for _, tc := range []struct{ name, public, want string }{
		{"configured", "https://phananh.bentre.gov.vn/", "https://phananh.bentre.gov.vn"},
		{"from the request", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DriverSQLite, func(c *Config) { c.PublicURL = tc.public })
			want := tc.want
			if want == "" {
				want = e.srv.URL
			}
			r := e.get("/open311/v2/discovery.json")
			if !strings.Contains(r.body, `"url":"`+want+`/open311/v2"`) {
				t.Errorf("discovery: %s, want %s/open311/v2", r.body, want)
			}
			_, s := e.submit(nil, nil, upload{name: "a.jpg", data: testJPEG(t, 64, 48)})
			tr := e.get("/api/v1/reports/track/" + s.Code)
			if !strings.Contains(tr.body, `"`+want+`/api/v1/reports/photos/`) || strings.Contains(tr.body, "localhost:8080") {
				t.Errorf("tracking photo links: %s, want under %s", tr.body, want)
			}
		})
	}
	cfg := testConfig(t)
	cfg.PublicURL = "phananh.bentre.gov.vn"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "public_url: must be an absolute http(s) URL") {
		t.Errorf("relative public_url: %v", err)
	}
}
