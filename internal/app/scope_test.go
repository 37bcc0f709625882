package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

// TestAreaScopedOperatorReadsOnlyTheirArea: an operator scoped to district 829 (TP Bến Tre) sees the
// city sensor and never the Ba Tri one (district 836) on every read route — lists are filtered, the Ba
// Tri device answers 404 like a missing one, KPIs are narrowed to their area — and their live map's
// clusters count only the city sensor; an unscoped operator and a leader see both.
func TestAreaScopedOperatorReadsOnlyTheirArea(t *testing.T) {
	a, callers := authzApp(t)
	base := callers["admin"].base
	if err := a.Auth.AddUser(t.Context(), auth.User{Name: "op.city", Role: auth.RoleOperator, Areas: []string{"829"}}, "mật-khẩu-op.city"); err != nil {
		t.Fatal(err)
	}
	scoped := signIn(t, base, "op.city", "mật-khẩu-op.city")
	pub := publisher(t, a.Broker.URL(), "scope-pub")
	publish(t, pub, "ioc/devices/sal-city/telemetry", `{"salinity": 0.4, "lon": 106.3759, "lat": 10.2415}`)
	publish(t, pub, "ioc/devices/sal-ba-tri/telemetry", `{"salinity": 0.6, "lon": 106.5939, "lat": 10.0431}`)
	// Citizen reports are stored as events (sensor readings are not).
	cityReport := `"` + report.EntityID(submitReport(t, callers["anonymous"], "106.3759", "10.2415")) + `"`
	baTriReport := `"` + report.EntityID(submitReport(t, callers["anonymous"], "106.5939", "10.0431")) + `"`
	waitFor(t, 10*time.Second, "both sensors and both reports on the map", func() bool {
		_, raw := callers["admin"].do(t, "GET", "/api/v1/entities", "", nil)
		_, events := callers["admin"].do(t, "GET", "/api/v1/events?type=report", "", nil)
		return strings.Count(raw, `"type":"Feature"`) == 4 && strings.Contains(events, baTriReport) && strings.Contains(events, cityReport)
	})

	const from, to = "from=2026-01-01T00:00:00%2B07:00", "to=2099-01-01T00:00:00%2B07:00"
	for _, tc := range []struct {
		name, path        string
		scopedCode, other int    // status for the scoped operator, and for an unscoped one and a leader
		in, out           string // in a list: shown to everyone, shown only to the unscoped
	}{
		{"devices", "/api/v1/devices", 200, 200, `"sal-city"`, `"sal-ba-tri"`},
		{"events", "/api/v1/events?type=report", 200, 200, cityReport, baTriReport},
		{"entities", "/api/v1/entities", 200, 200, `"sal-city"`, `"sal-ba-tri"`},
		{"entity reports", "/api/v1/entities?layer=reports", 200, 200, cityReport, baTriReport},
		{"in-scope device", "/api/v1/devices/sal-city", 200, 200, "", ""},
		{"out-of-scope device", "/api/v1/devices/sal-ba-tri", 404, 200, "", ""},
		{"in-scope readings", "/api/v1/readings?device=sal-city&field=salinity", 200, 200, "", ""},
		{"out-of-scope readings", "/api/v1/readings?device=sal-ba-tri&field=salinity", 404, 200, "", ""},
		{"unknown device's readings", "/api/v1/readings?device=nowhere&field=salinity", 404, 200, "", ""},
		{"kpi of another area", "/api/v1/kpi?area=836", 403, 200, "", ""},
		{"kpi csv of another area", "/api/v1/kpi?format=csv&area=836", 403, 200, "", ""},
		{"report kpi of another area", "/api/v1/reports/kpi?" + from + "&" + to + "&area=836", 403, 200, "", ""},
		{"report kpi", "/api/v1/reports/kpi?" + from + "&" + to + "&by=area", 200, 200, `"829"`, `"836"`},
		{"alarm kpi of another area", "/api/v1/alarms/kpi?area=836", 403, 200, "", ""},
		{"alarm kpi", "/api/v1/alarms/kpi", 200, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, who := range []string{"op.city", "operator", "leader"} {
				c, want := callers[who], tc.other
				if who == "op.city" {
					c, want = scoped, tc.scopedCode
				}
				code, raw := c.do(t, "GET", tc.path, "", nil)
				if code != want {
					t.Errorf("%s: %d, want %d (%s)", who, code, want, short(raw))
					continue
				}
				if tc.in == "" {
					continue
				}
				if !strings.Contains(raw, tc.in) || strings.Contains(raw, tc.out) == (who == "op.city") {
					t.Errorf("%s: lists %s: %v, %s: %v; want the second only unscoped", who,
						tc.in, strings.Contains(raw, tc.in), tc.out, strings.Contains(raw, tc.out))
				}
			}
		})
	}

	// Area summaries count only what the caller may see: the province holds both sensors, but for the
	// scoped operator only the city's.
	total := func(c *caller, code string) int {
		t.Helper()
		var s struct{ Total int }
		status, raw := c.do(t, "GET", "/api/v1/areas/"+code+"/summary", "", nil)
		if err := json.Unmarshal([]byte(raw), &s); err != nil || status != 200 {
			t.Fatalf("summary of %s: %d %s", code, status, short(raw))
		}
		return s.Total
	}
	if got, city, all := total(scoped, "83"), total(callers["admin"], "829"), total(callers["operator"], "83"); got != city || all <= city {
		t.Errorf("province summary: scoped %d, want the city's %d (unscoped: %d, more)", got, city, all)
	}

	// The KPI scorecard is narrowed to the operator's area, JSON and CSV alike.
	var sc struct {
		Area    string
		Sensors struct{ Total int }
	}
	if code, raw := scoped.do(t, "GET", "/api/v1/kpi", "", nil); code != 200 || json.Unmarshal([]byte(raw), &sc) != nil || sc.Area != "829" || sc.Sensors.Total != 1 {
		t.Errorf("scoped kpi: %d, area %q, %d sensors; want area 829 with the city sensor (%s)", code, sc.Area, sc.Sensors.Total, short(raw))
	}
	if code, raw := scoped.do(t, "GET", "/api/v1/kpi?format=csv", "", nil); code != 200 || !strings.Contains(raw, "range,,area,829") {
		t.Errorf("scoped kpi csv: %d %s", code, short(raw))
	}
	sc.Area = ""
	if code, raw := callers["leader"].do(t, "GET", "/api/v1/kpi", "", nil); code != 200 || json.Unmarshal([]byte(raw), &sc) != nil || sc.Area != "" || sc.Sensors.Total != 2 {
		t.Errorf("leader kpi: %d, area %q, %d sensors; want the whole province", code, sc.Area, sc.Sensors.Total)
	}

	// Live map clusters over the province: a sensor and a report in each district.
	for _, tc := range []struct {
		who  string
		c    *caller
		want int
	}{{"op.city", scoped, 2}, {"operator", callers["operator"], 4}} {
		if got := clusterCount(t, base, tc.c.hdr); got != tc.want {
			t.Errorf("%s's clusters count %d entities, want %d", tc.who, got, tc.want)
		}
	}
}

// clusterCount subscribes to the whole province at a clustering zoom and sums the clusters' counts.
func clusterCount(t *testing.T, base string, hdr http.Header) int {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/live?viewport=1", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","bbox":[105.5,9.5,107,10.6],"zoom":7}`)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f dashboard.Frame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for clusters: %v", err)
		}
		if f.Type != "snapshot" || f.Mode != "clusters" {
			continue
		}
		n := 0
		for _, c := range f.Clusters {
			n += c.Count
		}
		return n
	}
}

// submitReport files a citizen report at [lon, lat] as an anonymous caller and returns its id.
func submitReport(t *testing.T, anon *caller, lon, lat string) int64 {
	t.Helper()
	var tok struct{ Token string }
	if code := getJSON(t, anon.base+"/api/v1/reports/form-token", &tok); code != 200 {
		t.Fatalf("form token: %d", code)
	}
	form := url.Values{"category": {"NGAP_NUOC"}, "description": {"Ngập sâu"}, "lon": {lon}, "lat": {lat},
		"form_token": {tok.Token}, "attribute[depth_cm]": {"30"}}
	code, raw := anon.do(t, "POST", "/api/v1/reports", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	var created struct{ ID int64 }
	if err := json.Unmarshal([]byte(raw), &created); err != nil || code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, raw)
	}
	return created.ID
}

// TestScopedEventsFillTheLimit: GET /api/v1/events answers the newest 1,000 events; an operator scoped
// to district 829 gets their own event although 1,001 newer ones lie in Ba Tri (district 836), and an
// unscoped operator gets the newest 1,000, all in Ba Tri.
func TestScopedEventsFillTheLimit(t *testing.T) {
	a, callers := authzApp(t)
	if err := a.Auth.AddUser(t.Context(), auth.User{Name: "op.city", Role: auth.RoleOperator, Areas: []string{"829"}}, "mật-khẩu-op.city"); err != nil {
		t.Fatal(err)
	}
	scoped := signIn(t, callers["admin"].base, "op.city", "mật-khẩu-op.city")
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	ev := func(id string, at time.Time, district string) stream.Event {
		return stream.Event{Entity: "cam-" + id, Kind: "camera", Type: stream.TypeCamera, Time: at,
			Attrs: map[string]string{"event_id": id}, Areas: map[string]string{"province": "83", "district": district}}
	}
	batch := []stream.Event{ev("city", t0, "829")}
	for i := range 1001 {
		batch = append(batch, ev(fmt.Sprintf("ba-tri-%d", i), t0.Add(time.Duration(i+1)*time.Millisecond), "836"))
	}
	if err := a.Store.Write(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who       string
		c         *caller
		count     int
		city, out bool // lists the city event, lists a Ba Tri one
	}{
		{"op.city", scoped, 1, true, false},
		{"operator", callers["operator"], 1000, false, true},
	} {
		var got struct {
			Count  int
			Events []dashboard.Item
		}
		code, raw := tc.c.do(t, "GET", "/api/v1/events?type=camera", "", nil)
		if err := json.Unmarshal([]byte(raw), &got); err != nil || code != 200 {
			t.Fatalf("%s: %d %s", tc.who, code, short(raw))
		}
		city, out := false, false
		for _, it := range got.Events {
			city = city || it.ID == "cam-city"
			out = out || it.Areas["district"] == "836"
		}
		if got.Count != tc.count || city != tc.city || out != tc.out {
			t.Errorf("%s: %d events, city event %v, Ba Tri events %v; want %d, %v, %v", tc.who, got.Count, city, out, tc.count, tc.city, tc.out)
		}
	}
}

// TestScopedOperatorListsCamerasInTheirAreas: an operator scoped to district 829 lists only the
// cameras placed there; an unscoped operator lists both (TestAdminListScoped: unregistered sources).
func TestScopedOperatorListsCamerasInTheirAreas(t *testing.T) {
	a, callers := authzApp(t)
	if err := a.Auth.AddUser(t.Context(), auth.User{Name: "op.city", Role: auth.RoleOperator, Areas: []string{"829"}}, "mật-khẩu-op.city"); err != nil {
		t.Fatal(err)
	}
	scoped := signIn(t, callers["admin"].base, "op.city", "mật-khẩu-op.city")
	for _, cam := range []string{
		`{"id":"cam-city","location":[106.3759,10.2415],"source":{"kind":"frigate","name":"city"}}`,
		`{"id":"cam-ba-tri","location":[106.5939,10.0431],"source":{"kind":"frigate","name":"ba-tri"}}`,
	} {
		if code, raw := callers["admin"].do(t, "POST", "/api/v1/cameras", "application/json", strings.NewReader(cam)); code != http.StatusCreated {
			t.Fatalf("add camera: %d %s", code, short(raw))
		}
	}
	for _, tc := range []struct {
		who         string
		c           *caller
		city, baTri bool // lists cam-city, cam-ba-tri
	}{
		{"op.city", scoped, true, false},
		{"operator", callers["operator"], true, true},
	} {
		code, raw := tc.c.do(t, "GET", "/api/v1/cameras", "", nil)
		if code != 200 || strings.Contains(raw, `"cam-city"`) != tc.city || strings.Contains(raw, `"cam-ba-tri"`) != tc.baTri {
			t.Errorf("%s: cameras %d %s; want cam-city %v, cam-ba-tri %v", tc.who, code, short(raw), tc.city, tc.baTri)
		}
	}
}

// TestMultiAreaOperatorNamesAnArea: what the /kpi page relies on for an operator scoped to two
// districts: /api/v1/auth/me lists their areas, and the KPI routes want one of them in area=.
func TestMultiAreaOperatorNamesAnArea(t *testing.T) {
	a, callers := authzApp(t)
	if err := a.Auth.AddUser(t.Context(), auth.User{Name: "op.two", Role: auth.RoleOperator, Areas: []string{"829", "836"}}, "mật-khẩu-op.two"); err != nil {
		t.Fatal(err)
	}
	op := signIn(t, callers["admin"].base, "op.two", "mật-khẩu-op.two")
	for _, tc := range []struct {
		path     string
		code     int
		contains string
	}{
		{"/api/v1/auth/me", 200, `"areas":["829","836"]`},
		{"/api/v1/kpi", 400, `"area_required"`},
		{"/api/v1/kpi?area=836", 200, `"area":"836"`},
		{"/api/v1/kpi?format=csv&area=829", 200, "area,829"},
		{"/api/v1/kpi?area=831", 403, `"out_of_scope"`},
	} {
		if code, raw := op.do(t, "GET", tc.path, "", nil); code != tc.code || !strings.Contains(raw, tc.contains) {
			t.Errorf("%s: %d %s, want %d with %s", tc.path, code, short(raw), tc.code, tc.contains)
		}
	}
}

// TestMultiAreaOperatorListsTheirAreas: an operator scoped to two districts (829, 836) who names no
// area — as the map page asks GET /api/v1/alarms?state=open — gets the open alarms and the reports of
// both districts and none of a third (834); the report and alarm KPIs cover both; area= still narrows
// to one of theirs, and another area is 403.
func TestMultiAreaOperatorListsTheirAreas(t *testing.T) {
	a, callers := authzApp(t)
	admin := callers["admin"]
	if err := a.Auth.AddUser(t.Context(), auth.User{Name: "op.two", Role: auth.RoleOperator, Areas: []string{"829", "836"}}, "mật-khẩu-op.two"); err != nil {
		t.Fatal(err)
	}
	op := signIn(t, admin.base, "op.two", "mật-khẩu-op.two")
	rule := `{"id":"salinity-high","name":"Mặn vượt 4‰ / salinity above 4‰","severity":"major",
		"when":{"threshold":{"field":"salinity","op":">","value":4}}}`
	if code, raw := admin.do(t, "POST", "/api/v1/alarm-rules", "application/json", strings.NewReader(rule)); code != http.StatusCreated {
		t.Fatalf("add rule: %d %s", code, short(raw))
	}
	places := map[string][2]string{"829": {"106.3759", "10.2415"}, "836": {"106.5939", "10.0431"}, "834": {"106.4612", "10.1665"}}
	pub := publisher(t, a.Broker.URL(), "multi-area-pub")
	reports := map[int64]string{} // report id → district
	for district, p := range places {
		publish(t, pub, "ioc/devices/sal-"+district+"/telemetry", `{"salinity": 5.2, "lon": `+p[0]+`, "lat": `+p[1]+`}`)
		reports[submitReport(t, callers["anonymous"], p[0], p[1])] = district
	}

	type listed struct {
		code      int
		districts map[string]int // district → how many listed
	}
	alarms := func(c *caller, query string) listed {
		t.Helper()
		code, raw := c.do(t, "GET", "/api/v1/alarms"+query, "", nil)
		var out struct{ Alarms []alarm.Alarm }
		if code == 200 && json.Unmarshal([]byte(raw), &out) != nil {
			t.Fatalf("alarms%s: %s", query, short(raw))
		}
		l := listed{code, map[string]int{}}
		for _, al := range out.Alarms {
			l.districts[al.Areas["district"]]++
		}
		return l
	}
	waitFor(t, 10*time.Second, "an open alarm in each district", func() bool {
		return fmt.Sprint(alarms(admin, "?state=open").districts) == "map[829:1 834:1 836:1]"
	})
	reportList := func(c *caller, query string) listed {
		t.Helper()
		code, raw := c.do(t, "GET", "/api/v1/reports"+query, "", nil)
		var out []report.Report
		if code == 200 && json.Unmarshal([]byte(raw), &out) != nil {
			t.Fatalf("reports%s: %s", query, short(raw))
		}
		l := listed{code, map[string]int{}}
		for _, r := range out {
			if d := reports[r.ID]; d != r.Areas["district"] {
				t.Errorf("report %d in %q, filed in %s", r.ID, r.Areas["district"], d)
			}
			l.districts[r.Areas["district"]]++
		}
		return l
	}
	const period = "?from=2026-01-01T00:00:00%2B07:00&to=2099-01-01T00:00:00%2B07:00&by=area"
	kpiRows := func(c *caller, path string) listed {
		t.Helper()
		code, raw := c.do(t, "GET", path, "", nil)
		var rows []report.KPIRow
		var groups struct{ Groups []alarm.KPI }
		if code == 200 && json.Unmarshal([]byte(raw), &rows) != nil && json.Unmarshal([]byte(raw), &groups) != nil {
			t.Fatalf("%s: %s", path, short(raw))
		}
		l := listed{code, map[string]int{}}
		for _, r := range rows {
			l.districts[r.Key] += r.Received
		}
		for _, g := range groups.Groups {
			l.districts[g.Group] += g.Raised
		}
		return l
	}
	for _, tc := range []struct {
		name string
		got  func() listed
		want listed
	}{
		{"open alarms, as the map asks", func() listed { return alarms(op, "?state=open&limit=1000") }, listed{200, map[string]int{"829": 1, "836": 1}}},
		{"alarms of one of their areas", func() listed { return alarms(op, "?state=open&area=836") }, listed{200, map[string]int{"836": 1}}},
		{"alarms of both, named", func() listed { return alarms(op, "?area=829&area=836") }, listed{200, map[string]int{"829": 1, "836": 1}}},
		{"alarms of another area", func() listed { return alarms(op, "?state=open&area=834") }, listed{403, map[string]int{}}},
		{"alarms of theirs and another", func() listed { return alarms(op, "?area=829&area=834") }, listed{403, map[string]int{}}},
		{"reports", func() listed { return reportList(op, "") }, listed{200, map[string]int{"829": 1, "836": 1}}},
		{"reports of one of their areas", func() listed { return reportList(op, "?area=829") }, listed{200, map[string]int{"829": 1}}},
		{"reports of another area", func() listed { return reportList(op, "?area=834") }, listed{403, map[string]int{}}},
		{"report kpi", func() listed { return kpiRows(op, "/api/v1/reports/kpi"+period) }, listed{200, map[string]int{"829": 1, "836": 1}}},
		{"alarm kpi", func() listed { return kpiRows(op, "/api/v1/alarms/kpi?by=district") }, listed{200, map[string]int{"829": 1, "836": 1}}},
		{"alarm kpi of another area", func() listed { return kpiRows(op, "/api/v1/alarms/kpi?area=834") }, listed{403, map[string]int{}}},
		{"unscoped operator: every area", func() listed { return alarms(callers["operator"], "?state=open") }, listed{200, map[string]int{"829": 1, "834": 1, "836": 1}}},
		{"unscoped operator: two areas named", func() listed { return reportList(callers["operator"], "?area=834&area=836") }, listed{200, map[string]int{"834": 1, "836": 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.got(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %d %v, want %d %v", got.code, got.districts, tc.want.code, tc.want.districts)
			}
		})
	}
}
