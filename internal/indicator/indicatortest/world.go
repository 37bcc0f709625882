// Package indicatortest builds a small province on real stores (report service and alarm store on
// SQLite files, readings in the SQLite event store, a registry, admin areas) for the tests of the
// indicator and briefing packages. Test-only; never compiled into ioc.
package indicatortest

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/sqldb"
	"github.com/ioc-vn/ioc/internal/store/sqlite"
	"github.com/ioc-vn/ioc/stream"
)

// VN is Asia/Ho_Chi_Minh (no daylight saving).
var VN = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// Day is the day the world's data happen on: 10 March 2026 in Vietnam.
var Day = time.Date(2026, 3, 10, 0, 0, 0, 0, VN)

// World is the small province: province 83 with districts 829 (east, lon 106.4–106.6, commune
// 29001) and 831 (west, lon 106.2–106.4, commune 31001).
//
// On Day: reports — one received the day before at 07:00 and resolved at 09:00 (26 h, late for its
// 24 h SLA), one received at 08:00 in 829 and resolved at 10:00 (2 h, on time), one received at
// 09:00 in 831 and left open; alarms — one critical in 829 raised at 08:00 and acknowledged 10
// minutes later, one major in 831 raised at 09:00 and still open; readings — sal-1 (829) salinity
// 4.5 at 08:10 and 6.1 at 09:10, sal-2 (831) salinity 2.0 at 08:30, aq-1 (831) pm25 60 at 10:05,
// 70 at 11:05 and 30 at 12:05, pm-quiet (829) registered with pm25 but silent on Day.
type World struct {
	Now      time.Time // the clock the sources see; 18:00 on Day
	Areas    *geo.Areas
	Reports  *report.Service
	Alarms   *alarm.SQLStore
	Readings *sqlite.Store
	Registry *registry.Registry
}

// Sources are the world's indicator sources, reading the world's clock.
func (w *World) Sources() indicator.Sources {
	return indicator.Sources{Reports: w.Reports, Alarms: w.Alarms, Readings: w.Readings,
		Devices: func() []registry.Entity { return w.Registry.List(stream.TypeTelemetry) },
		Areas:   func() *geo.Areas { return w.Areas }, Boundary: "test-areas", Location: VN,
		Now: func() time.Time { return w.Now }}
}

func square(lon0, lat0, lon1, lat1 float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{lon0, lat0}, {lon1, lat0}, {lon1, lat1}, {lon0, lat1}, {lon0, lat0}}}}
}

// Areas is the world's province.
func Areas(tb testing.TB) *geo.Areas {
	tb.Helper()
	as, err := geo.New([]*geo.Area{
		{Code: "83", Name: "Tỉnh Bến Tre", Level: "province", Geom: square(106.2, 10.0, 106.6, 10.4)},
		{Code: "829", Name: "Huyện Châu Thành", Level: "district", Parent: "83", Geom: square(106.4, 10.0, 106.6, 10.4)},
		{Code: "831", Name: "Huyện Chợ Lách", Level: "district", Parent: "83", Geom: square(106.2, 10.0, 106.4, 10.4)},
		{Code: "29001", Name: "Xã Tân Thạch", Level: "commune", Parent: "829", Geom: square(106.4, 10.0, 106.6, 10.4)},
		{Code: "31001", Name: "Xã Hòa Nghĩa", Level: "commune", Parent: "831", Geom: square(106.2, 10.0, 106.4, 10.4)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return as
}

// Root is the repository root (for configs/).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// NewWorld builds the world in a temporary directory.
func NewWorld(tb testing.TB) *World {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	w := &World{Areas: Areas(tb)}
	at := func(h, m int) time.Time { return Day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	w.Now = at(-17, 0) // the day before, 07:00
	w.Reports = NewReports(tb, dir, func(lon, lat float64) map[string]string { return w.Areas.Codes(orb.Point{lon, lat}) },
		func() time.Time { return w.Now })
	submit := func(lon float64) report.Report {
		tb.Helper()
		r, _, err := w.Reports.Submit(ctx, report.Submission{Service: "NGAP_NUOC", Description: "ngập nước đường",
			Location: orb.Point{lon, 10.2}, Client: "web"})
		if err != nil {
			tb.Fatalf("submit: %v", err)
		}
		return r
	}
	resolve := func(id int64, t time.Time) {
		tb.Helper()
		for _, to := range []report.Status{report.StatusTriaged, report.StatusAssigned, report.StatusResolved} {
			w.Now = t
			if _, err := w.Reports.Transition(ctx, id, "operator", report.Move{To: to, Note: "xử lý"}); err != nil {
				tb.Fatalf("transition to %s: %v", to, err)
			}
		}
	}
	late := submit(106.5)
	w.Now = at(8, 0)
	onTime := submit(106.45)
	w.Now = at(9, 0)
	submit(106.3)
	resolve(late.ID, at(9, 0))
	resolve(onTime.ID, at(10, 0))

	var err error
	if w.Alarms, err = alarm.OpenSQLite(ctx, filepath.Join(dir, "alarms.db")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Alarms.Close() })
	in := func(d, c string) map[string]string {
		return map[string]string{"province": "83", "district": d, "commune": c}
	}
	crit, _, err := w.Alarms.Open(ctx, alarm.Alarm{Rule: "salinity-high", Source: "sal-1", Severity: "critical",
		Areas: in("829", "29001"), RaisedAt: at(8, 0)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Alarms.Act(ctx, crit.ID, alarm.Action{At: at(8, 10), Actor: "operator", Kind: alarm.ActionAck}); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := w.Alarms.Open(ctx, alarm.Alarm{Rule: "water-high", Source: "wl-1", Severity: "major",
		Areas: in("831", "31001"), RaisedAt: at(9, 0)}); err != nil {
		tb.Fatal(err)
	}

	if w.Readings, err = sqlite.Open(ctx, filepath.Join(dir, "ioc.db")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Readings.Close() })
	w.Registry = registry.New(true, nil)
	reading := func(id, field string, v float64, t time.Time, d, c string) stream.Event {
		return stream.Event{Entity: id, Kind: field, Type: stream.TypeTelemetry, Time: t, Areas: in(d, c),
			Values: map[string]float64{field: v}}
	}
	evs := []stream.Event{
		reading("pm-quiet", "pm25", 10, at(-20, 0), "829", "29001"),
		reading("sal-1", "salinity", 4.5, at(8, 10), "829", "29001"),
		reading("sal-1", "salinity", 6.1, at(9, 10), "829", "29001"),
		reading("sal-2", "salinity", 2.0, at(8, 30), "831", "31001"),
		reading("aq-1", "pm25", 60, at(10, 5), "831", "31001"),
		reading("aq-1", "pm25", 70, at(11, 5), "831", "31001"),
		reading("aq-1", "pm25", 30, at(12, 5), "831", "31001"),
	}
	if err := w.Readings.Write(ctx, evs); err != nil {
		tb.Fatal(err)
	}
	if err := w.Registry.Write(ctx, evs); err != nil {
		tb.Fatal(err)
	}
	w.Now = at(18, 0)
	return w
}

// NewReports is a report service on a SQLite file in dir with the shipped catalogue.
func NewReports(tb testing.TB, dir string, locate func(lon, lat float64) map[string]string, now func() time.Time) *report.Service {
	tb.Helper()
	cfg := report.Defaults()
	cfg.Store.Path = filepath.Join(dir, "reports.db")
	cfg.Catalogue = filepath.Join(Root(), "configs", "services.yaml")
	cfg.Calendar.Holidays = filepath.Join(Root(), "configs", "holidays-vn.yaml")
	cfg.FormSecret = "indicator-test-secret-0123456789abcdef"
	cat, err := report.LoadCatalogue(cfg.Catalogue)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := report.OpenStore(context.Background(), cfg.Store)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	svc, err := report.New(cfg, report.Deps{Store: st, Catalogue: cat, Locate: locate, Now: now,
		Photos: &photo.Store{Blobs: &photo.Disk{Dir: filepath.Join(dir, "photos")}, Limits: photo.DefaultLimits()}})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// Definitions is one indicator of each formula kind (PM2.5 completeness expects one reading an hour), daily, for the province, districts and communes.
func Definitions() []indicator.Definition {
	f := func(v float64) *float64 { return &v }
	levels := []string{"province", "district", "commune"}
	def := func(code, vi, en, unit, dir string, formula indicator.Formula) indicator.Definition {
		return indicator.Definition{Code: code, NameVI: vi, NameEN: en, Unit: unit, Period: indicator.Day, Owner: "Sở KH&CN",
			Levels: levels, Direction: dir, Formula: formula, Decimals: 1}
	}
	onTime := def("reports_on_time", "Tỉ lệ phản ánh xử lý đúng hạn", "Reports resolved on time", "%", indicator.HigherBetter,
		indicator.Formula{Kind: indicator.ReportsOnTimePct})
	onTime.Target, onTime.Green, onTime.Red = f(90), f(90), f(70)
	salt := def("salinity_max", "Độ mặn cao nhất", "Highest salinity", "‰", indicator.LowerBetter,
		indicator.Formula{Kind: indicator.SensorMax, Field: "salinity"})
	salt.Green, salt.Red = f(4), f(6)
	return []indicator.Definition{
		def("reports_received", "Số phản ánh tiếp nhận", "Reports received", "phản ánh", indicator.HigherBetter,
			indicator.Formula{Kind: indicator.ReportsReceived}),
		def("reports_resolved", "Số phản ánh đã xử lý", "Reports resolved", "phản ánh", indicator.HigherBetter,
			indicator.Formula{Kind: indicator.ReportsResolved}),
		onTime,
		def("reports_median_h", "Thời gian xử lý trung vị", "Median time to resolve", "giờ", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.ReportsMedianHours}),
		def("alarms_raised", "Số cảnh báo phát sinh", "Alarms raised", "cảnh báo", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.AlarmsRaised}),
		def("alarms_open", "Số cảnh báo đang mở", "Open alarms", "cảnh báo", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.AlarmsOpen}),
		def("alarm_ack_min", "Thời gian xác nhận cảnh báo", "Time to acknowledge", "phút", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.AlarmsMedianAckMin}),
		salt,
		def("salinity_mean", "Độ mặn trung bình", "Mean salinity", "‰", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.SensorMean, Field: "salinity"}),
		def("pm25_hours", "Số giờ PM2.5 vượt 50 µg/m³", "Hours with PM2.5 above 50 µg/m³", "giờ", indicator.LowerBetter,
			indicator.Formula{Kind: indicator.SensorHoursAbove, Field: "pm25", Above: 50}),
		def("pm25_reporting", "Tỉ lệ trạm PM2.5 gửi số liệu", "PM2.5 stations reporting", "%", indicator.HigherBetter,
			indicator.Formula{Kind: indicator.DevicesReportingPct, Field: "pm25"}),
		def("pm25_complete", "Độ đầy đủ số liệu PM2.5", "PM2.5 data completeness", "%", indicator.HigherBetter,
			indicator.Formula{Kind: indicator.CompletenessPct, Field: "pm25", Interval: time.Hour}),
	}
}

// Service is an indicator service over the world's sources with Definitions, its values in a
// SQLite file in a temporary directory.
func (w *World) Service(tb testing.TB) *indicator.Service {
	tb.Helper()
	cfg := indicator.Defaults()
	cfg.Definitions = Definitions()
	cfg.Store = sqldb.Config{Driver: sqldb.SQLite, Path: filepath.Join(tb.TempDir(), "indicators.db")}
	st, err := indicator.OpenStore(context.Background(), cfg.Store)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return indicator.NewService(cfg, w.Sources(), st, indicator.Options{})
}
