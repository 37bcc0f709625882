package report

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loadFor = flag.Duration("report.load", 10*time.Second, "how long BenchmarkSubmitLoad runs its 200 submitters")

// BenchmarkSubmitLoad is the load run (not part of go test by default): 200 concurrent submitters
// against PostgreSQL for -report.load through the citizen page's API, each with its own device_id and
// Idempotency-Key per report, a few sharing IPs beyond the limiter. It fails on any status other than
// 201 and the limiter's 429, and checks that the stored reports are exactly the 201s: none lost, none
// duplicated.
//
//	go test ./internal/report -run '^$' -bench SubmitLoad -benchtime 1x -report.load 10s
func BenchmarkSubmitLoad(b *testing.B) {
	loadRun(b, func(e *env, w, i int) *http.Request {
		ct, body := multipartBody(b, map[string]string{"device_id": fmt.Sprintf("load-%d", w%150)})
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/reports", body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Idempotency-Key", fmt.Sprintf("load-%03d-%08d", w, i))
		return req
	}, func(raw string) string {
		var s submitted
		mustJSONDecode(b, raw, &s)
		return s.Code
	})
}

// BenchmarkOpen311Load is the same load through Open311 GeoReport v2: 200 concurrent clients POST
// form-encoded requests to /open311/v2/requests.json with the province's API key, each with its own
// device_id (so the per-device limiter answers 429 to the excess) and Idempotency-Key.
//
//	go test ./internal/report -run '^$' -bench Open311Load -benchtime 1x -report.load 10s
func BenchmarkOpen311Load(b *testing.B) {
	var key string
	loadRun(b, func(e *env, w, i int) *http.Request {
		if key == "" {
			key = e.apiKey()
		}
		v := potholeForm(key)
		v.Set("device_id", fmt.Sprintf("o311-%d", w%150))
		req, _ := http.NewRequest("POST", e.srv.URL+"/open311/v2/requests.json", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("o311-%03d-%08d", w, i))
		return req
	}, func(raw string) string {
		var out []struct {
			Token string `json:"token"`
		}
		mustJSONDecode(b, raw, &out)
		if len(out) != 1 {
			b.Fatalf("Open311 answer %s", raw)
		}
		return out[0].Token
	})
}

// loadRun drives 200 submitters for -report.load with requests from build; code extracts the
// tracking code from a 201 body. It checks that what is stored is exactly what was answered 201.
func loadRun(b *testing.B, build func(e *env, worker, i int) *http.Request, code func(body string) string) {
	for range b.N {
		e := newEnv(b, DriverPostgres, func(c *Config) {
			c.RateIP = RateConfig{Every: time.Millisecond, Burst: 1000} // one loopback IP: let the device limiter speak
			c.RateDevice = RateConfig{Every: 200 * time.Millisecond, Burst: 5}
		})
		e.clock = nil
		e.svc.d.Now = time.Now
		build(e, 0, -1) // anything build prepares once (an API key) happens before the clock starts
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
					req := build(e, w, i)
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
						c := code(string(raw))
						mu.Lock()
						lat = append(lat, d)
						if codes[c] {
							b.Errorf("code %s returned twice", c)
						}
						codes[c] = true
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
