package alarm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// thousandRules is the 1,000-rule set of the benchmarks: 250 per telemetry kind (salinity, water_level,
// air_quality, rain) with thresholds the load never reaches; with scoped, every odd rule is scoped to
// one device.
func thousandRules(scoped bool) []Rule {
	kinds := map[string]string{"salinity": "salinity", "water_level": "water_level", "air_quality": "pm25", "rain": "rain_mm"}
	var rules []Rule
	for kind, field := range kinds {
		for i := range 250 {
			r := Rule{ID: fmt.Sprintf("%s-%d", kind, i), Severity: SeverityMinor, Scope: Scope{Kinds: []string{kind}},
				When: Condition{Threshold: &Threshold{Field: field, Op: ">", Value: 1000 + float64(i), For: Duration(time.Minute)}}}
			if scoped && i%2 == 1 {
				r.Scope.Devices = []string{fmt.Sprintf("dev-%d", i)}
			}
			rules = append(rules, r)
		}
	}
	return rules
}

// benchEngine is an engine over a temporary SQLite store with rules.
func benchEngine(tb testing.TB, rules []Rule) *Engine {
	s, err := OpenSQLite(context.Background(), tb.TempDir()+"/bench.db")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	cfg := testConfig(rules...)
	cfg.MaxEventAge = 0 // the fixtures' times are fixed; the engine's clock is the real one
	e, err := New(context.Background(), cfg, s, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BenchmarkProcess1000Rules measures rule evaluation per telemetry message with 1,000 rules loaded:
// 250 per telemetry kind (salinity, water_level, air_quality, rain), half of them scoped to a device.
func BenchmarkProcess1000Rules(b *testing.B) {
	e := benchEngine(b, thousandRules(true))
	ev := tele("dev-7", "salinity", 0, "salinity", 3.2)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		e.Process(ctx, &ev)
	}
}

// TestIdleSourcesKeepNoState: sources that leave a rule idle (below threshold, nothing pending) keep
// no per-(rule, source) state, so 1,000 rules over 100,000 stations cost memory only for the stations
// a rule is actually watching; a source over the threshold keeps its pending state and raises.
func TestIdleSourcesKeepNoState(t *testing.T) {
	rules := []Rule{
		{ID: "sal-high", Severity: SeverityMajor, Scope: Scope{Kinds: []string{"salinity"}},
			When: Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4, For: Duration(10 * time.Minute)}}},
		{ID: "sal-rate", Severity: SeverityMinor, Scope: Scope{Kinds: []string{"water_level"}},
			When: Condition{Threshold: &Threshold{Field: "water_level", Op: ">", Value: 3}}},
	}
	e := benchEngine(t, rules)
	ctx := context.Background()
	for i := range 5000 {
		ev := tele(fmt.Sprintf("st-%d", i), "salinity", time.Duration(i)*time.Millisecond, "salinity", 2.5)
		e.Process(ctx, &ev)
	}
	if n := len(e.states); n != 0 {
		t.Fatalf("%d states kept for 5,000 idle stations", n)
	}
	over := tele("st-7", "salinity", time.Minute, "salinity", 4.8)
	e.Process(ctx, &over)
	if n := len(e.states); n != 1 {
		t.Fatalf("%d states after one station went over the threshold, want 1 (pending)", n)
	}
	later := tele("st-7", "salinity", 12*time.Minute, "salinity", 4.9)
	e.Process(ctx, &later)
	select {
	case tr := <-e.in:
		if tr.op != ActionRaise || tr.source != "st-7" {
			t.Fatalf("transition %+v, want raise for st-7", tr)
		}
	default:
		t.Fatal("the pending station did not raise after its duration")
	}
}

// BenchmarkProcessNewSources is rule evaluation when every message comes from a station not seen
// before (100,000 stations reporting once), with the 1,000 rules of BenchmarkProcess1000Rules.
func BenchmarkProcessNewSources(b *testing.B) {
	e := benchEngine(b, thousandRules(false))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := tele(fmt.Sprintf("st-%d", i%100000), "salinity", time.Duration(i)*time.Millisecond, "salinity", 3.2)
		e.Process(ctx, &ev)
	}
	b.ReportMetric(float64(len(e.states)), "states")
}
