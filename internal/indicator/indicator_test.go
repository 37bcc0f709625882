package indicator_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/indicator/indicatortest"
	"github.com/ioc-vn/ioc/stream"
)

var vn = indicatortest.VN

func TestValidate(t *testing.T) {
	good := indicator.Defaults()
	good.Definitions = indicatortest.Definitions()
	if err := good.Validate("indicators"); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(d *indicator.Definition)
		wants []string
	}{
		{"unknown formula", func(d *indicator.Definition) { d.Formula.Kind = "reports_happy" },
			[]string{`indicators.definitions[0] (reports_received).formula.kind: unknown formula "reports_happy"`}},
		{"sensor formula without field", func(d *indicator.Definition) { d.Formula = indicator.Formula{Kind: indicator.SensorMax} },
			[]string{"indicators.definitions[0] (reports_received).formula.field: must name a reading field"}},
		{"field on a report formula", func(d *indicator.Definition) { d.Formula.Field = "salinity" },
			[]string{"indicators.definitions[0] (reports_received).formula.field: is not used by reports_received"}},
		{"unknown level and period", func(d *indicator.Definition) { d.Levels = []string{"province", "hamlet"}; d.Period = "fortnight" },
			[]string{`indicators.definitions[0] (reports_received).levels[1]: unknown area level "hamlet"`,
				`indicators.definitions[0] (reports_received).period: unknown period "fortnight"`}},
		{"thresholds the wrong way", func(d *indicator.Definition) {
			g, r := 50.0, 80.0
			d.Green, d.Red = &g, &r
		}, []string{"indicators.definitions[0] (reports_received).green: must be above red when higher is better"}},
		{"bad code and names", func(d *indicator.Definition) { d.Code, d.NameVI, d.Direction = "Bad Code", "", "up" },
			[]string{"indicators.definitions[0] (Bad Code).code: must be", "indicators.definitions[0] (Bad Code).name_vi: must be set",
				`indicators.definitions[0] (Bad Code).direction: must be higher_better or lower_better, not "up"`}},
		{"completeness without interval", func(d *indicator.Definition) {
			d.Formula = indicator.Formula{Kind: indicator.CompletenessPct, Field: "pm25"}
		}, []string{"indicators.definitions[0] (reports_received).formula.interval: must be between 1s and 24h for completeness_pct"}},
		{"range the wrong way", func(d *indicator.Definition) {
			lo, hi := 5.0, 1.0
			d.Formula = indicator.Formula{Kind: indicator.OutOfRangePct, Field: "salinity", Min: &lo, Max: &hi}
		}, []string{"indicators.definitions[0] (reports_received).formula.max: must be above min"}},
		{"duplicate code", func(d *indicator.Definition) { d.Code = "reports_resolved" },
			[]string{`indicators.definitions[1] (reports_resolved).code: duplicate code "reports_resolved"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := indicator.Defaults()
			c.Definitions = indicatortest.Definitions()
			tc.edit(&c.Definitions[0])
			err := c.Validate("indicators")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPeriods(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 30, 0, 0, vn) // a Thursday; 16:30 UTC
	tests := []struct {
		period, key string
		start, end  time.Time
	}{
		{indicator.Day, "2026-12-31", time.Date(2026, 12, 31, 0, 0, 0, 0, vn), time.Date(2027, 1, 1, 0, 0, 0, 0, vn)},
		{indicator.Week, "2026-W53", time.Date(2026, 12, 28, 0, 0, 0, 0, vn), time.Date(2027, 1, 4, 0, 0, 0, 0, vn)},
		{indicator.Month, "2026-12", time.Date(2026, 12, 1, 0, 0, 0, 0, vn), time.Date(2027, 1, 1, 0, 0, 0, 0, vn)},
		{indicator.Quarter, "2026-Q4", time.Date(2026, 10, 1, 0, 0, 0, 0, vn), time.Date(2027, 1, 1, 0, 0, 0, 0, vn)},
		{indicator.Year, "2026", time.Date(2026, 1, 1, 0, 0, 0, 0, vn), time.Date(2027, 1, 1, 0, 0, 0, 0, vn)},
	}
	for _, tc := range tests {
		t.Run(tc.period, func(t *testing.T) {
			s := indicator.SpanAt(tc.period, at.UTC(), vn) // the UTC date is still the 31st, 16:30
			if s.Key != tc.key || !s.Start.Equal(tc.start) || !s.End.Equal(tc.end) {
				t.Fatalf("SpanAt = %s [%s, %s), want %s [%s, %s)", s.Key, s.Start, s.End, tc.key, tc.start, tc.end)
			}
			p, err := indicator.ParseKey(tc.period, tc.key, vn)
			if err != nil || p != s {
				t.Fatalf("ParseKey(%q) = %+v, %v; want %+v", tc.key, p, err, s)
			}
			last := indicator.Last(tc.period, at, 3, vn)
			if len(last) != 3 || last[2] != s || !last[1].End.Equal(last[2].Start) || !last[0].End.Equal(last[1].Start) {
				t.Fatalf("Last = %+v", last)
			}
		})
	}
	if _, err := indicator.ParseKey(indicator.Week, "2026-W60", vn); err == nil {
		t.Error("week 60 accepted")
	}
	if _, err := indicator.ParseKey(indicator.Day, "2026-02-30", vn); err == nil {
		t.Error("30 February accepted")
	}
}

// valueOf finds the value of one indicator and area.
func valueOf(t *testing.T, vs []indicator.Value, code, area string) indicator.Value {
	t.Helper()
	for _, v := range vs {
		if v.Indicator == code && v.Area == area {
			return v
		}
	}
	t.Fatalf("no value of %s for %s", code, area)
	return indicator.Value{}
}

func TestComputeDay(t *testing.T) {
	w := indicatortest.NewWorld(t)
	defs := indicatortest.Definitions()
	span := indicator.SpanAt(indicator.Day, indicatortest.Day, vn)
	vs, err := w.Sources().ComputeAll(context.Background(), defs, span)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(defs)*5 {
		t.Fatalf("%d values, want %d (5 areas each)", len(vs), len(defs)*5)
	}
	null := -1.0
	tests := []struct {
		code, area string
		want       float64 // null: no value
		status     string
	}{
		{"reports_received", "83", 2, ""}, {"reports_received", "829", 1, ""}, {"reports_received", "31001", 1, ""},
		{"reports_resolved", "83", 2, ""}, {"reports_resolved", "831", 0, ""},
		{"reports_on_time", "83", 50, indicator.Red}, {"reports_on_time", "829", 50, indicator.Red}, {"reports_on_time", "831", null, ""},
		{"reports_median_h", "83", 14, ""}, {"reports_median_h", "29001", 14, ""},
		{"alarms_raised", "83", 2, ""}, {"alarms_raised", "31001", 1, ""},
		{"alarms_open", "83", 2, ""}, {"alarms_open", "829", 1, ""},
		{"alarm_ack_min", "83", 10, ""}, {"alarm_ack_min", "831", null, ""},
		{"salinity_max", "83", 6.1, indicator.Red}, {"salinity_max", "831", 2, indicator.Green},
		{"salinity_mean", "83", 4.2, ""}, {"salinity_mean", "829", 5.3, ""},
		{"pm25_hours", "83", 2, ""}, {"pm25_hours", "831", 2, ""}, {"pm25_hours", "829", 0, ""},
		{"pm25_reporting", "83", 50, ""}, {"pm25_reporting", "829", 0, ""}, {"pm25_reporting", "831", 100, ""},
		// aq-1 sent 3 of the 18 hourly readings expected by 18:00, pm-quiet none.
		// salinity in [0, 5]: sal-1's 09:00 hour (6.1) is out of its three device-hours with data.
		{"salinity_plausible", "83", 100.0 / 3, ""}, {"salinity_plausible", "829", 50, ""}, {"salinity_plausible", "831", 0, ""},
		{"salinity_plausible", "31001", 0, ""},
		{"pm25_complete", "831", 100.0 * 3 / 18, ""}, {"pm25_complete", "829", 0, ""}, {"pm25_complete", "83", 100.0 * 3 / 36, ""},
	}
	for _, tc := range tests {
		v := valueOf(t, vs, tc.code, tc.area)
		switch {
		case tc.want == null && v.Value != nil:
			t.Errorf("%s %s = %v, want null", tc.code, tc.area, *v.Value)
		case tc.want != null && (v.Value == nil || abs(*v.Value-tc.want) > 1e-9):
			t.Errorf("%s %s = %v, want %v", tc.code, tc.area, v.Value, tc.want)
		}
		if v.Status != tc.status {
			t.Errorf("%s %s status %q, want %q", tc.code, tc.area, v.Status, tc.status)
		}
	}
	v := valueOf(t, vs, "salinity_max", "829")
	if v.Lineage.Inputs["devices"] != 1 || v.Lineage.Inputs["hourly_samples"] != 2 || v.Lineage.Boundary != "test-areas" ||
		!v.Lineage.ComputedAt.Equal(w.Now) || !v.Lineage.Partial || v.Key != "2026-03-10" || v.AreaName != "Huyện Châu Thành" {
		t.Errorf("lineage of salinity_max 829: %+v", v)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func newService(t *testing.T, w *indicatortest.World) *indicator.Service { return w.Service(t) }

// A reading that arrives after the day was computed is in the value after the next recompute.
func TestRecomputeTakesLateData(t *testing.T) {
	ctx := context.Background()
	w := indicatortest.NewWorld(t)
	svc := newService(t, w)
	n, err := svc.Recompute(ctx, []string{"salinity_max"}, 2)
	if err != nil || n != 10 { // the day before and the day, 5 areas each
		t.Fatalf("recompute stored %d, %v; want 10", n, err)
	}
	get := func() indicator.Value {
		t.Helper()
		vs, err := svc.Values(ctx, indicator.Filter{Indicators: []string{"salinity_max"}, Areas: []string{"831"}, Key: "2026-03-10"})
		if err != nil || len(vs) != 1 {
			t.Fatalf("values: %v, %v", vs, err)
		}
		return vs[0]
	}
	before := get()
	if *before.Value != 2 || before.Status != indicator.Green {
		t.Fatalf("before: %+v", before)
	}
	late := stream.Event{Entity: "sal-2", Kind: "salinity", Type: stream.TypeTelemetry, Time: indicatortest.Day.Add(17 * time.Hour),
		Values: map[string]float64{"salinity": 7.25}}
	if err := w.Readings.Write(ctx, []stream.Event{late}); err != nil {
		t.Fatal(err)
	}
	w.Now = w.Now.Add(time.Hour)
	if _, err := svc.Recompute(ctx, nil, 1); err != nil {
		t.Fatal(err)
	}
	after := get()
	if *after.Value != 7.25 || after.Status != indicator.Red || !after.Lineage.ComputedAt.Equal(w.Now) ||
		after.Lineage.Inputs["hourly_samples"] != 2 {
		t.Fatalf("after the late reading: %+v", after)
	}
	if _, err := svc.Recompute(ctx, []string{"nope"}, 1); err == nil {
		t.Fatal("unknown indicator recomputed")
	}
}

// The shipped demo set loads and passes validation.
func TestShippedDefinitions(t *testing.T) {
	c := indicator.Defaults()
	c.File = indicatortest.Root() + "/configs/indicators.yaml"
	c, err := c.LoadFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate("indicators"); err != nil {
		t.Fatal(err)
	}
	if len(c.Definitions) < 8 {
		t.Fatalf("%d definitions", len(c.Definitions))
	}
	c.File = t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(c.File, []byte("definitions:\n  - code: x\n    formular: {kind: y}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadFile(); err == nil || !strings.Contains(err.Error(), "formular") {
		t.Fatalf("misspelt key: %v", err)
	}
}

// Every indicator of one computation is computed up to the same time, however the clock moves
// meanwhile (report figures are read once, up to that time).
func TestComputeAllReadsTheClockOnce(t *testing.T) {
	w := indicatortest.NewWorld(t)
	src := w.Sources()
	calls := 0
	src.Now = func() time.Time { calls++; return time.Now() } // the period being today, still running
	span := indicator.SpanAt(indicator.Day, time.Now(), vn)
	vs, err := src.ComputeAll(context.Background(), indicatortest.Definitions(), span)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(vs) == 0 || !vs[0].Lineage.ComputedAt.Equal(vs[len(vs)-1].Lineage.ComputedAt) {
		t.Fatalf("clock read %d times; %d values", calls, len(vs))
	}
}
