package alarm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkProcess1000Rules measures rule evaluation per telemetry message with 1,000 rules loaded:
// 250 per telemetry kind (salinity, water_level, air_quality, rain), half of them scoped to a device.
func BenchmarkProcess1000Rules(b *testing.B) {
	kinds := map[string]string{"salinity": "salinity", "water_level": "water_level", "air_quality": "pm25", "rain": "rain_mm"}
	var rules []Rule
	for kind, field := range kinds {
		for i := range 250 {
			r := Rule{ID: fmt.Sprintf("%s-%d", kind, i), Severity: SeverityMinor, Scope: Scope{Kinds: []string{kind}},
				When: Condition{Threshold: &Threshold{Field: field, Op: ">", Value: 1000 + float64(i), For: Duration(time.Minute)}}}
			if i%2 == 1 {
				r.Scope.Devices = []string{fmt.Sprintf("dev-%d", i)}
			}
			rules = append(rules, r)
		}
	}
	s, err := OpenSQLite(context.Background(), b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e, err := New(context.Background(), testConfig(rules...), s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ev := tele("dev-7", "salinity", 0, "salinity", 3.2)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		e.Process(ctx, &ev)
	}
}
