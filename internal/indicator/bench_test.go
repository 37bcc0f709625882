package indicator_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/indicator/indicatortest"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/store/sqlite"
	"github.com/ioc-vn/ioc/stream"
)

// benchCommunes is the number of communes of the benchmark province (Bến Tre after the 2025 merger).
const benchCommunes = 124

// commune is the code of the commune holding lon (a 124-column strip grid over 106.0–107.24).
func commune(lon float64) string { return fmt.Sprintf("c%03d", int((lon-106.0)*100)) }

func benchAreas(b *testing.B) *geo.Areas {
	sq := func(lon0, lon1 float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{lon0, 10.0}, {lon1, 10.0}, {lon1, 10.4}, {lon0, 10.4}, {lon0, 10.0}}}}
	}
	list := []*geo.Area{{Code: "83", Name: "Tỉnh Bến Tre", Level: "province", Geom: sq(106.0, 106.0+benchCommunes*0.01)}}
	for i := range benchCommunes {
		lon := 106.0 + float64(i)*0.01
		list = append(list, &geo.Area{Code: commune(lon + 0.005), Name: fmt.Sprintf("Xã %d", i), Level: "commune", Parent: "83",
			Geom: sq(lon, lon+0.01)})
	}
	as, err := geo.New(list)
	if err != nil {
		b.Fatal(err)
	}
	return as
}

// BenchmarkComputeShippedDay computes every shipped daily indicator (configs/indicators.yaml, at
// province and commune level) for 124 communes and one day over 1,008,000 readings (350 salinity
// and 350 PM2.5 stations, one reading a minute), 10,000 citizen reports over 30 days (a third
// resolved) and 2,000 alarms, all on SQLite files.
func BenchmarkComputeShippedDay(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	day := indicatortest.Day
	areas := benchAreas(b)
	codes := func(lon, _ float64) map[string]string {
		return map[string]string{"province": "83", "commune": commune(lon)}
	}
	now := day.Add(-30 * 24 * time.Hour)
	reports := indicatortest.NewReports(b, dir, codes, func() time.Time { return now })
	for i := range 10000 {
		now = day.Add(-30*24*time.Hour + time.Duration(i)*(30*24*time.Hour+17*time.Hour)/10000)
		r, _, err := reports.Submit(ctx, report.Submission{Service: "NGAP_NUOC", Description: "đo hiệu năng chỉ tiêu",
			Location: orb.Point{106.0 + float64(i%benchCommunes)*0.01 + 0.005, 10.2}, Client: "web"})
		if err != nil {
			b.Fatal(err)
		}
		if i%3 == 0 {
			for _, to := range []report.Status{report.StatusTriaged, report.StatusAssigned, report.StatusResolved} {
				if _, err := reports.Transition(ctx, r.ID, "operator", report.Move{To: to}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	alarms, err := alarm.OpenSQLite(ctx, filepath.Join(dir, "alarms.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { alarms.Close() })
	for i := range 2000 {
		lon := 106.0 + float64(i%benchCommunes)*0.01 + 0.005
		a, _, err := alarms.Open(ctx, alarm.Alarm{Rule: "r", Source: fmt.Sprintf("s-%d", i), Severity: "major",
			Areas: codes(lon, 0), RaisedAt: day.Add(-time.Duration(i) * 10 * time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := alarms.Act(ctx, a.ID, alarm.Action{At: a.RaisedAt.Add(7 * time.Minute), Actor: "op", Kind: alarm.ActionAck}); err != nil {
				b.Fatal(err)
			}
		}
	}
	readings, err := sqlite.Open(ctx, filepath.Join(dir, "ioc.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { readings.Close() })
	reg := registry.New(true, nil)
	var batch []stream.Event
	total := 0
	for minute := range 1440 {
		for d := range 700 {
			field := "salinity"
			if d%2 == 1 {
				field = "pm25"
			}
			lon := 106.0 + float64(d%benchCommunes)*0.01 + 0.005
			batch = append(batch, stream.Event{Entity: fmt.Sprintf("%s-%d", field, d), Kind: field, Type: stream.TypeTelemetry,
				Time: day.Add(time.Duration(minute) * time.Minute), Areas: codes(lon, 0),
				Values: map[string]float64{field: float64((d*7+minute)%90) * 0.9}})
		}
		if len(batch) >= 14000 || minute == 1439 {
			if err := readings.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
			if err := reg.Write(ctx, batch); err != nil {
				b.Fatal(err)
			}
			total += len(batch)
			batch = batch[:0]
		}
	}
	shipped, err := indicator.Config{File: filepath.Join(indicatortest.Root(), "configs", "indicators.yaml")}.LoadFile()
	if err != nil {
		b.Fatal(err)
	}
	var defs []indicator.Definition
	for _, d := range shipped.Definitions {
		if d.Period == indicator.Day {
			d.Levels = []string{"province", "commune"}
			defs = append(defs, d)
		}
	}
	src := indicator.Sources{Reports: reports, Alarms: alarms, Readings: readings,
		Devices: func() []registry.Entity { return reg.List(stream.TypeTelemetry) },
		Areas:   func() *geo.Areas { return areas }, Location: vn, Now: func() time.Time { return day.Add(24 * time.Hour) }}
	span := indicator.SpanAt(indicator.Day, day, vn)
	if total != 1008000 {
		b.Fatalf("%d readings written", total)
	}
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		n++
		vs, err := src.ComputeAll(ctx, defs, span)
		if err != nil {
			b.Fatal(err)
		}
		if len(vs) != len(defs)*(benchCommunes+1) {
			b.Fatalf("%d values, want %d", len(vs), len(defs)*(benchCommunes+1))
		}
	}
	// On a shared machine wall time says more about the neighbours than about this code: the
	// process's CPU time per computation is reported too.
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(n), "cpu-s/op")
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
