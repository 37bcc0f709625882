package kpi

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/indicator/indicatortest"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

var vn = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// t0 is 08:00 on 10 March 2026 in Vietnam; the scorecard is read three hours later.
var t0 = time.Date(2026, 3, 10, 8, 0, 0, 0, vn)

// world is a report service, an alarm store and a registry on real SQLite files, filled with a
// small province: three reports (one resolved), two alarms (one acknowledged after 10 minutes) and
// five sensors (three online).
type world struct {
	deps Deps
	now  time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{now: t0.Add(-10 * 24 * time.Hour)}
	dir := t.TempDir()
	svc := newReports(t, dir, func(lon, _ float64) map[string]string {
		if lon > 106.4 {
			return map[string]string{"province": "83", "district": "829"}
		}
		return map[string]string{"province": "83", "district": "831"}
	}, func() time.Time { return w.now })
	submit := func(category string, lon float64) report.Report {
		t.Helper()
		var attrs map[string][]string
		if category == "O_GA" {
			attrs = map[string][]string{"size": {"large"}}
		}
		r, _, err := svc.Submit(ctx, report.Submission{Service: category, Description: "kiểm tra KPI",
			Location: orb.Point{lon, 10.24}, Attributes: attrs, Client: "web"})
		if err != nil {
			t.Fatalf("submit %s: %v", category, err)
		}
		return r
	}
	submit("NGAP_NUOC", 106.45) // ten days before t0, district 829, stays open
	w.now = t0
	r1 := submit("NGAP_NUOC", 106.41) // district 829, resolved after two hours (SLA 24 h)
	w.now = t0.Add(time.Hour)
	submit("O_GA", 106.30) // district 831, open
	for i, to := range []report.Status{report.StatusTriaged, report.StatusAssigned, report.StatusResolved} {
		w.now = t0.Add(time.Hour + time.Duration(i+1)*20*time.Minute)
		if _, err := svc.Transition(ctx, r1.ID, "operator", report.Move{To: to, Note: "xử lý"}); err != nil {
			t.Fatalf("transition to %s: %v", to, err)
		}
	}

	as, err := alarm.OpenSQLite(ctx, filepath.Join(dir, "alarms.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	crit, _, err := as.Open(ctx, alarm.Alarm{Rule: "salinity-high", Source: "sal-1", Severity: "critical",
		Areas: map[string]string{"province": "83", "district": "829"}, RaisedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.Act(ctx, crit.ID, alarm.Action{At: t0.Add(10 * time.Minute), Actor: "operator", Kind: alarm.ActionAck}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := as.Open(ctx, alarm.Alarm{Rule: "water-high", Source: "wl-1", Severity: "major",
		Areas: map[string]string{"province": "83", "district": "831"}, RaisedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	w.now = t0.Add(3 * time.Hour)
	reg := registry.New(true, nil)
	reg.Register(registry.Device{ID: "never-seen", Kind: "rain", Location: []float64{106.3, 10.2}})
	at := func(d time.Duration) time.Time { return w.now.Add(-d) }
	in := func(d string) map[string]string { return map[string]string{"province": "83", "district": d} }
	if err := reg.Write(ctx, []stream.Event{
		{Entity: "sal-1", Kind: "salinity", Type: stream.TypeTelemetry, Time: at(time.Minute), Areas: in("829"), Values: map[string]float64{"salinity": 4.5}},
		{Entity: "sal-2", Kind: "salinity", Type: stream.TypeTelemetry, Time: at(2 * time.Minute), Areas: in("829"), Values: map[string]float64{"salinity": 6.1}},
		{Entity: "wl-1", Kind: "water_level", Type: stream.TypeTelemetry, Time: at(time.Hour), Areas: in("831"), Values: map[string]float64{"water_level": 1.2}},
		{Entity: "aq-1", Kind: "air_quality", Type: stream.TypeTelemetry, Time: at(5 * time.Minute), Areas: in("831"), Values: map[string]float64{"pm25": 35, "pm10": 60}},
	}); err != nil {
		t.Fatal(err)
	}
	w.deps = Deps{Reports: svc, Alarms: as, Registry: reg, OnlineWindow: 15 * time.Minute, Location: vn,
		Now: func() time.Time { return w.now }}
	return w
}

// newReports is a report service on a SQLite file in dir with the shipped catalogue.
func newReports(tb testing.TB, dir string, locate func(lon, lat float64) map[string]string, now func() time.Time) *report.Service {
	return indicatortest.NewReports(tb, dir, locate, now)
}

func getJSON(t *testing.T, h http.Handler, q url.Values, out any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/kpi?"+q.Encode(), nil))
	if out != nil && rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("decode: %v: %s", err, rec.Body)
		}
	}
	return rec.Code
}

func TestKPIJSON(t *testing.T) {
	w := newWorld(t)
	h := Handler(w.deps, slog.New(slog.DiscardHandler))
	var sc Scorecard
	if code := getJSON(t, h, nil, &sc); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	r := sc.Reports
	if r.Received != 3 || r.Resolved != 1 || r.Backlog != 2 || r.WithinSLAPct != 100 || r.MedianHours != 2 {
		t.Errorf("report totals %+v, want received 3, resolved 1, backlog 2, 100%% in SLA, median 2 h", r.KPIRow)
	}
	wantWin := map[string]Window{"today": {2, 1}, "7d": {2, 1}, "30d": {3, 1}}
	for name, want := range wantWin {
		if got := r.Windows[name]; got != want {
			t.Errorf("window %s = %+v, want %+v", name, got, want)
		}
	}
	byCat := map[string]report.KPIRow{}
	for _, row := range r.ByCategory {
		byCat[row.Key] = row
	}
	if byCat["NGAP_NUOC"].Received != 2 || byCat["NGAP_NUOC"].Resolved != 1 || byCat["O_GA"].Received != 1 || byCat["O_GA"].Backlog != 1 {
		t.Errorf("by category %+v", r.ByCategory)
	}
	byDist := map[string]report.KPIRow{}
	for _, row := range r.ByArea {
		byDist[row.Key] = row
	}
	if byDist["829"].Received != 2 || byDist["829"].Backlog != 1 || byDist["831"].Received != 1 || byDist["831"].Resolved != 0 {
		t.Errorf("by district %+v", r.ByArea)
	}
	a := sc.Alarms
	if a.Active != 2 || a.ActiveBySeverity["critical"] != 1 || a.ActiveBySeverity["major"] != 1 || a.Raised != 2 || a.Acked != 1 || a.MeanTimeToAckS != 600 {
		t.Errorf("alarms %+v, want 2 active (1 critical, 1 major), 1 acked after 600 s", a)
	}
	if s := sc.Sensors; s.Total != 5 || s.Online != 3 || s.OnlinePct != 60 {
		t.Errorf("sensors %+v, want 3 of 5 online", s)
	}
	max := map[string]map[string]Peak{}
	for _, m := range sc.Maxima {
		max[m.Area] = m.Fields
	}
	if p := max["829"]["salinity"]; p.Value != 6.1 || p.Device != "sal-2" {
		t.Errorf("829 salinity max %+v, want 6.1 from sal-2", p)
	}
	if max["831"]["water_level"].Value != 1.2 || max["831"]["pm25"].Value != 35 {
		t.Errorf("831 maxima %+v", max["831"])
	}
	if _, ok := max["831"]["pm10"]; ok {
		t.Errorf("pm10 is not a KPI field: %+v", max["831"])
	}
	if n := len(sc.Trend); n != 31 {
		t.Fatalf("trend has %d days, want 31", n)
	}
	last, tenDaysAgo := sc.Trend[30], sc.Trend[20]
	if last.Day != "2026-03-10" || last.Received != 2 || last.Resolved != 1 || last.AlarmsRaised != 2 {
		t.Errorf("last trend day %+v", last)
	}
	if tenDaysAgo.Day != "2026-02-28" || tenDaysAgo.Received != 1 {
		t.Errorf("trend day 2026-02-28 %+v", tenDaysAgo)
	}
	if sc.To.Format(time.RFC3339) != "2026-03-10T11:00:00+07:00" {
		t.Errorf("to %s, want +07:00", sc.To.Format(time.RFC3339))
	}

	// One district.
	var one Scorecard
	if code := getJSON(t, h, url.Values{"area": {"829"}}, &one); code != http.StatusOK {
		t.Fatalf("area status %d", code)
	}
	if one.Reports.Received != 2 || one.Reports.Resolved != 1 || one.Reports.Backlog != 1 || len(one.Reports.ByArea) != 1 {
		t.Errorf("area 829 reports %+v %+v", one.Reports.KPIRow, one.Reports.ByArea)
	}
	if one.Alarms.Active != 1 || one.Alarms.ActiveBySeverity["critical"] != 1 || one.Alarms.MeanTimeToAckS != 600 {
		t.Errorf("area 829 alarms %+v", one.Alarms)
	}
	if one.Sensors.Total != 2 || one.Sensors.Online != 2 {
		t.Errorf("area 829 sensors %+v", one.Sensors)
	}
	if len(one.Reports.ByCategory) != 1 || one.Reports.ByCategory[0].Key != "NGAP_NUOC" || one.Reports.ByCategory[0].Received != 2 {
		t.Errorf("area 829 by category %+v, want only NGAP_NUOC with 2 received (O_GA is in 831)", one.Reports.ByCategory)
	}
	// An area at another level (the province) holds both districts and their four sensors.
	var province Scorecard
	if code := getJSON(t, h, url.Values{"area": {"83"}}, &province); code != http.StatusOK {
		t.Fatalf("province status %d", code)
	}
	if province.Reports.Received != 3 || len(province.Reports.ByArea) != 2 || province.Sensors.Total != 4 {
		t.Errorf("province 83: reports %+v by district %+v sensors %+v", province.Reports.KPIRow, province.Reports.ByArea, province.Sensors)
	}

	// A range before anything happened.
	var empty Scorecard
	getJSON(t, h, url.Values{"from": {"2025-01-01T00:00:00+07:00"}, "to": {"2025-01-02T00:00:00+07:00"}}, &empty)
	if empty.Reports.Received != 0 || empty.Alarms.Raised != 0 || len(empty.Trend) != 1 {
		t.Errorf("empty range %+v %+v", empty.Reports.KPIRow, empty.Alarms)
	}
}

// TestKPIAreaLevel groups by the level the boundaries name, whatever it is called: by default the
// finest level in the data (the districts of this world), or the one AreaLevel gives.
func TestKPIAreaLevel(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name, level string
		keys        []string
	}{
		{"finest level in the data", "", []string{"829", "831"}},
		{"the level the boundaries name", "province", []string{"83"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := w.deps
			d.AreaLevel = func() string { return tc.level }
			var sc Scorecard
			if code := getJSON(t, Handler(d, slog.New(slog.DiscardHandler)), url.Values{}, &sc); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			var keys, maxima []string
			for _, row := range sc.Reports.ByArea {
				keys = append(keys, row.Key)
			}
			for _, m := range sc.Maxima {
				maxima = append(maxima, m.Area)
			}
			if want := cmp.Or(tc.level, "district"); sc.Reports.AreaLevel != want || !slices.Equal(keys, tc.keys) || !slices.Equal(maxima, tc.keys) {
				t.Errorf("level %q, by area %v, maxima %v; want %s %v", sc.Reports.AreaLevel, keys, maxima, want, tc.keys)
			}
		})
	}
}

func TestKPIBadInput(t *testing.T) {
	w := newWorld(t)
	h := Handler(w.deps, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"from not RFC 3339", url.Values{"from": {"yesterday"}}},
		{"to before from", url.Values{"from": {"2026-03-10T00:00:00+07:00"}, "to": {"2026-03-09T00:00:00+07:00"}}},
		{"range over a year", url.Values{"from": {"2024-01-01T00:00:00+07:00"}}},
		{"bad area", url.Values{"area": {"82'; drop"}}},
		{"bad format", url.Values{"format": {"xlsx"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/kpi?"+tc.q.Encode(), nil))
			var env struct {
				Error struct{ Message string }
			}
			if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &env) != nil || env.Error.Message == "" {
				t.Errorf("got %d %s, want 400 with a reason", rec.Code, rec.Body)
			}
		})
	}
}

func TestKPICSV(t *testing.T) {
	w := newWorld(t)
	h := Handler(w.deps, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/kpi?format=csv", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	rows, err := csv.NewReader(io.Reader(rec.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0][0] != "section" {
		t.Fatalf("no header: %v", rows)
	}
	got := map[[3]string]string{}
	for _, r := range rows[1:] {
		if len(r) != 4 {
			t.Fatalf("row %v has %d columns", r, len(r))
		}
		got[[3]string{r[0], r[1], r[2]}] = r[3]
	}
	for key, want := range map[[3]string]float64{
		{"reports", "total", "received"}:            3,
		{"reports", "total", "resolved"}:            1,
		{"reports", "total", "backlog"}:             2,
		{"reports", "total", "within_sla_pct"}:      100,
		{"reports", "total", "median_resolution_h"}: 2,
		{"reports", "window:today", "received"}:     2,
		{"reports", "window:30d", "received"}:       3,
		{"reports", "category:O_GA", "backlog"}:     1,
		{"reports", "area:829", "received"}:         2,
		{"alarms", "severity:critical", "active"}:   1,
		{"alarms", "total", "mean_time_to_ack_s"}:   600,
		{"sensors", "total", "online_pct"}:          60,
		{"maxima", "area:829", "salinity"}:          6.1,
		{"maxima", "area:831", "pm25"}:              35,
		{"trend", "2026-03-10", "alarms_raised"}:    2,
		{"trend", "2026-02-28", "received"}:         1,
	} {
		v, err := strconv.ParseFloat(got[key], 64)
		if err != nil || v != want {
			t.Errorf("%v = %q, want %v", key, got[key], want)
		}
	}
	if got[[3]string{"range", "", "to"}] != "2026-03-10T11:00:00+07:00" {
		t.Errorf("range to %q", got[[3]string{"range", "", "to"}])
	}
}
