package app

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
)

// BenchmarkInfluxIngest measures, against one influxd 1.8 on this machine: raw, the line-protocol write
// rate of influxd itself (4 concurrent writers, 5,000-point batches: the ceiling), and mqtt, the
// sustained rate of readings from MQTT publishers through the embedded broker, the collector, the
// pipeline with area enrichment and alarm rules, into InfluxDB (acknowledged after the write).
//
//	go test -run '^$' -bench InfluxIngest -benchtime 1x ./internal/app/
func BenchmarkInfluxIngest(b *testing.B) {
	srv := influxtest.Start(b)
	b.Run("raw", func(b *testing.B) {
		const writers, batches, per = 4, 40, 5000 // 200,000 points a round
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
		base := time.Now().Add(-time.Hour).UnixMilli()
		b.ResetTimer()
		start := time.Now()
		for round := 0; round < b.N; round++ {
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf bytes.Buffer
					for k := w; k < batches; k += writers {
						buf.Reset()
						for i := 0; i < per; i++ {
							n := (round*batches+k)*per + i
							fmt.Fprintf(&buf, "bench_raw,device=raw-%d,kind=bench_raw,province=83,district=829 level=%d.5,temperature=28.1 %d\n",
								n%1000, n%10, base+int64(n))
						}
						if err := srv.WriteLines(client, buf.Bytes()); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		}
		points := float64(b.N * batches * per)
		b.ReportMetric(points/time.Since(start).Seconds(), "points/s")
		b.ReportMetric(2*points/time.Since(start).Seconds(), "readings/s")
	})
	b.Run("mqtt", func(b *testing.B) {
		a := startApp(b, influxConfig(b, srv, b.TempDir()))
		const publishers, perPublisher = 4, 10000
		elapsed := publishRounds(b, a.Broker.URL(), publishers, perPublisher, func(p, i int, ts time.Time) (string, string) {
			return fmt.Sprintf("ioc/devices/ib-%d-%d/telemetry", p, i%100),
				fmt.Sprintf(`{"ts":%d,"values":{"salinity":%d.5,"temperature":28.1,"lon":%g,"lat":10.24}}`, ts.UnixMilli(), i%10, 106.3+float64(i%100)*0.002)
		}, func() float64 { return influxWritten(b, a) })
		msgs := float64(b.N * publishers * perPublisher)
		b.ReportMetric(msgs/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(2*msgs/elapsed.Seconds(), "readings/s")
		b.ReportMetric(metricValue(b, a.Gatherer, "ioc_influx_spooled_points_total", nil), "spooled")
		b.ReportMetric(metricValue(b, a.Gatherer, "ioc_broker_messages_dropped_total", nil), "dropped")
	})
}
