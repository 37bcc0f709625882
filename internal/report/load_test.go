package report

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loadFor = flag.Duration("report.load", 10*time.Second, "how long BenchmarkSubmitLoad runs its 200 submitters")

// BenchmarkSubmitLoad is the load run (not part of go test by default): 200 concurrent submitters
// against PostgreSQL for -report.load, each with its own device_id and Idempotency-Key per report,
// a few sharing IPs beyond the limiter. It fails on any status other than 201 and the limiter's 429,
// and checks that the stored reports are exactly the 201s: none lost, none duplicated.
//
//	go test ./internal/report -run '^$' -bench SubmitLoad -benchtime 1x -report.load 10s
func BenchmarkSubmitLoad(b *testing.B) {
	for range b.N {
		e := newEnv(b, DriverPostgres, func(c *Config) {
			c.RateIP = RateConfig{Every: time.Millisecond, Burst: 1000} // one loopback IP: let the device limiter speak
			c.RateDevice = RateConfig{Every: 200 * time.Millisecond, Burst: 5}
		})
		e.clock = nil
		e.svc.d.Now = time.Now
		const workers = 200
		var ok, limited atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		codes := map[string]bool{}
		deadline := time.Now().Add(*loadFor)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := range workers {
			wg.Go(func() {
				for i := 0; time.Now().Before(deadline); i++ {
					ct, body := multipartBody(b, map[string]string{"device_id": fmt.Sprintf("load-%d", w%150)})
					req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/reports", body)
					req.Header.Set("Content-Type", ct)
					req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%03d-%08d", w, i))
					start := time.Now()
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					raw, _ := io.ReadAll(res.Body)
					res.Body.Close()
					d := time.Since(start)
					switch res.StatusCode {
					case 201:
						var s submitted
						mustJSONDecode(b, string(raw), &s)
						mu.Lock()
						lat = append(lat, d)
						if codes[s.Code] {
							b.Errorf("code %s returned twice", s.Code)
						}
						codes[s.Code] = true
						mu.Unlock()
						ok.Add(1)
					case 429:
						limited.Add(1)
						time.Sleep(50 * time.Millisecond)
					default:
						b.Errorf("status %d: %s", res.StatusCode, raw)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		stored, err := e.store.List(b.Context(), Query{})
		if err != nil {
			b.Fatal(err)
		}
		if len(stored) != int(ok.Load()) {
			b.Fatalf("stored %d reports, answered 201 %d times", len(stored), ok.Load())
		}
		for _, r := range stored {
			if !codes[r.Code] {
				b.Fatalf("stored report %s was never answered 201", r.Code)
			}
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
		b.ReportMetric(float64(ok.Load())/loadFor.Seconds(), "reports/s")
		b.ReportMetric(float64(limited.Load()), "429s")
		b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99_ms")
	}
}
