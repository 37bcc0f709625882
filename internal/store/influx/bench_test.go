package influx_test

import (
	"context"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
	"github.com/ioc-vn/ioc/stream"
)

// BenchmarkStore measures the sink on its own against one influxd 1.8: direct, Write of 20,000-event
// batches (4 requests of 5,000 points in flight, gzip) while InfluxDB is up; replay, how fast a spool
// of 100,000 points drains once InfluxDB is back (one request at a time, in order).
//
//	go test -run '^$' -bench Store -benchtime 1x ./internal/store/influx/
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		srv := influxtest.Start(b)
		st, _ := open(b, srv, "", nil)
		const per, batches = 20000, 10
		var elapsed time.Duration
		for round := 0; round < b.N; round++ {
			b.StopTimer()
			evs := make([][]stream.Event, batches)
			for k := range evs {
				evs[k] = batch((round*batches+k)*per, per, 1000)
			}
			b.StartTimer()
			start := time.Now()
			for _, e := range evs {
				if err := st.Write(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*batches*per)/elapsed.Seconds(), "points/s")
	})
	b.Run("replay", func(b *testing.B) {
		srv := influxtest.Start(b)
		st, reg := open(b, srv, "", nil)
		const per, batches = 5000, 20
		var elapsed time.Duration
		var replayed float64
		for round := 0; round < b.N; round++ {
			b.StopTimer()
			srv.Kill()
			for k := 0; k < batches; k++ {
				if err := st.Write(ctx, batch((round*batches+k)*per, per, 1000)); err != nil {
					b.Fatal(err)
				}
			}
			if err := srv.Restart(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			// Time from the first replayed request (the replayer may be in a retry backoff at restart).
			before := metric(b, reg, "ioc_influx_replayed_points_total", nil)
			waitFor(b, "replay started", func() bool { return metric(b, reg, "ioc_influx_replayed_points_total", nil) > before })
			start, first := time.Now(), metric(b, reg, "ioc_influx_replayed_points_total", nil)
			waitFor(b, "spool replayed", func() bool { return metric(b, reg, "ioc_influx_spool_points", nil) == 0 })
			elapsed += time.Since(start)
			replayed += metric(b, reg, "ioc_influx_replayed_points_total", nil) - first
		}
		b.ReportMetric(replayed/elapsed.Seconds(), "points/s")
	})
}
