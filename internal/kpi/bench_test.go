package kpi

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

// BenchmarkCompute is one /api/v1/kpi answer over 30 days for a province with 3,000 reports (a third
// resolved), 500 alarms and 1,000 sensors, on SQLite.
func BenchmarkCompute(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	now := t0
	svc := newReports(b, dir, func(lon, _ float64) map[string]string {
		return map[string]string{"province": "83", "district": fmt.Sprint(829 + int(lon*1000)%9)}
	}, func() time.Time { return now })
	for i := range 3000 {
		now = t0.Add(-time.Duration(i) * 14 * time.Minute) // spread over the last 29 days
		r, _, err := svc.Submit(ctx, report.Submission{Service: "NGAP_NUOC", Description: "đo hiệu năng",
			Location: orb.Point{106.3 + float64(i%90)/1000, 10.2}, Client: "web"})
		if err != nil {
			b.Fatal(err)
		}
		if i%3 == 0 {
			for _, to := range []report.Status{report.StatusTriaged, report.StatusAssigned, report.StatusResolved} {
				now = now.Add(time.Hour)
				if _, err := svc.Transition(ctx, r.ID, "operator", report.Move{To: to}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	as, err := alarm.OpenSQLite(ctx, filepath.Join(dir, "alarms.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer as.Close()
	for i := range 500 {
		a, _, err := as.Open(ctx, alarm.Alarm{Rule: "r", Source: fmt.Sprintf("s-%d", i), Severity: []string{"critical", "major", "minor", "warning"}[i%4],
			Areas: map[string]string{"district": fmt.Sprint(829 + i%9)}, RaisedAt: t0.Add(-time.Duration(i) * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := as.Act(ctx, a.ID, alarm.Action{At: a.RaisedAt.Add(5 * time.Minute), Actor: "op", Kind: alarm.ActionAck}); err != nil {
				b.Fatal(err)
			}
		}
	}
	reg := registry.New(true, nil)
	evs := make([]stream.Event, 1000)
	for i := range evs {
		evs[i] = stream.Event{Entity: fmt.Sprintf("sal-%d", i), Kind: "salinity", Type: stream.TypeTelemetry, Time: t0.Add(-time.Duration(i) * time.Second),
			Areas: map[string]string{"district": fmt.Sprint(829 + i%9)}, Values: map[string]float64{"salinity": float64(i % 13)}}
	}
	if err := reg.Write(ctx, evs); err != nil {
		b.Fatal(err)
	}
	now = t0
	d := Deps{Reports: svc, Alarms: as, Registry: reg, OnlineWindow: 15 * time.Minute, Location: vn, Now: func() time.Time { return now }}
	q := Query{From: t0.Add(-30 * 24 * time.Hour), To: t0.Add(time.Minute)}
	b.ResetTimer()
	for b.Loop() {
		sc, err := Compute(ctx, d, q)
		if err != nil {
			b.Fatal(err)
		}
		if sc.Reports.Received != 3000 {
			b.Fatalf("received %d", sc.Reports.Received)
		}
	}
}
