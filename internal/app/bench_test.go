package app

import (
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/natstest"
)

// BenchmarkIngest measures sustained messages/s from MQTT publishers through the embedded broker,
// the collector and the pipeline into the SQLite store (acknowledged after commit).
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./internal/app/
func BenchmarkIngest(b *testing.B) {
	a := startApp(b, testConfig(b))
	const publishers, perPublisher = 4, 25000
	cpu0 := processCPU(b)
	elapsed := publishRounds(b, a.Broker.URL(), publishers, perPublisher, func(p, i int, ts time.Time) (string, string) {
		return fmt.Sprintf("ioc/devices/bench-%d-%d/telemetry", p, i%100),
			fmt.Sprintf(`{"ts":%d,"values":{"salinity":%d.5,"temperature":28.1}}`, ts.UnixMilli(), i%10)
	}, func() float64 {
		return metricValue(b, a.Gatherer, "ioc_sink_batch_events_sum", map[string]string{"sink": "store"})
	})
	total := float64(b.N * publishers * perPublisher)
	b.ReportMetric(total/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/total, "cpu-µs/msg")
	b.ReportMetric(metricValue(b, a.Gatherer, "ioc_broker_messages_dropped_total", nil), "dropped")
}

// processCPU is the user and system CPU time this process (ioc and the publishers in it) used so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// publishRounds runs b.N rounds in which publishers connections to brokerURL each publish perPublisher
// QoS 1 messages (message i of publisher p, stamped ts, from msg), and waits after each round until
// stored() counts every message published so far. It returns the time of the rounds; the timer is
// stopped when it returns.
func publishRounds(b *testing.B, brokerURL string, publishers, perPublisher int, msg func(p, i int, ts time.Time) (topic, payload string), stored func() float64) time.Duration {
	b.Helper()
	clients := make([]func(round int), publishers)
	base := time.Now().Add(-time.Hour)
	for p := range clients {
		c := publisher(b, brokerURL, fmt.Sprintf("bench-%d", p))
		clients[p] = func(round int) {
			var last interface{ Wait() bool }
			for i := 0; i < perPublisher; i++ {
				topic, payload := msg(p, i, base.Add(time.Duration(round*perPublisher+i)*time.Millisecond))
				last = c.Publish(topic, 1, false, payload)
			}
			last.Wait()
		}
	}
	b.ResetTimer()
	start := time.Now()
	for round := 0; round < b.N; round++ {
		var wg sync.WaitGroup
		for _, pub := range clients {
			wg.Add(1)
			go func() { defer wg.Done(); pub(round) }()
		}
		wg.Wait()
		want := float64((round + 1) * publishers * perPublisher)
		waitFor(b, 5*time.Minute, "all stored", func() bool { return stored() >= want })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	return elapsed
}

// BenchmarkLiveLatency measures publish → websocket delivery latency at a steady 1,000 messages/s over
// 500 devices, seen by one websocket client; reports p50 and p99 in milliseconds.
//
//	go test -run '^$' -bench LiveLatency -benchtime 1x ./internal/app/
func BenchmarkLiveLatency(b *testing.B) {
	cfg := testConfig(b)
	cfg.Live.FlushInterval = 10 * time.Millisecond
	a := startApp(b, cfg)
	live := dialLive(b, a.HTTP.Addr())
	<-live.items // snapshot
	pub := publisher(b, a.Broker.URL(), "latency-pub")
	const rate, seconds, devices = 1000, 5, 500
	var lat []float64
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range live.items {
			now := time.Now().UnixNano()
			mu.Lock()
			for _, it := range f.Items {
				if sent, ok := it.Values["sent_ns"]; ok {
					lat = append(lat, float64(now-int64(sent))/1e6)
				}
			}
			mu.Unlock()
		}
	}()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		tick := time.NewTicker(time.Second / rate)
		for i := 0; i < rate*seconds; i++ {
			<-tick.C
			pub.Publish(fmt.Sprintf("ioc/devices/lat-%d/telemetry", i%devices), 1, false,
				fmt.Sprintf(`{"sent_ns":%d,"pm25":12}`, time.Now().UnixNano()))
		}
		tick.Stop()
	}
	time.Sleep(500 * time.Millisecond)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no update reached the websocket")
	}
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "p50_ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99_ms")
	b.ReportMetric(float64(len(lat)), "items")
}

// BenchmarkClusterIngest compares one node with two nodes sharing a Mosquitto shared subscription and
// NATS fan-out, on this one machine: sustained messages/s into the nodes' stores.
//
//	go test -run '^$' -bench ClusterIngest -benchtime 1x ./internal/app/
func BenchmarkClusterIngest(b *testing.B) {
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			m := mqtttest.StartMosquitto(b)
			natsURL := natstest.Start(b)
			var apps []*App
			for i := 0; i < nodes; i++ {
				cfg := testConfig(b)
				cfg.Broker.Enabled = false
				c := &cfg.Collectors[0]
				c.Broker, c.ClientID = m.URL, fmt.Sprintf("ioc-bench-%d", i)
				for j := range c.Topics {
					c.Topics[j].Filter = "$share/ioc/" + c.Topics[j].Filter
				}
				cfg.Cluster = config.Cluster{NodeID: fmt.Sprintf("n%d", i), NATSURL: natsURL, Bucket: "ioc_state"}
				apps = append(apps, startApp(b, cfg))
			}
			const publishers, perPublisher = 4, 10000
			stored := func() float64 {
				sum := 0.0
				for _, a := range apps {
					sum += metricValue(b, a.Gatherer, "ioc_sink_batch_events_sum", map[string]string{"sink": "store"})
				}
				return sum
			}
			base := time.Now().Add(-time.Hour)
			b.ResetTimer()
			start := time.Now()
			for round := 0; round < b.N; round++ {
				var wg sync.WaitGroup
				for p := 0; p < publishers; p++ {
					pub := publisher(b, m.URL, fmt.Sprintf("cb-%d-%d", p, round))
					wg.Add(1)
					go func() {
						defer wg.Done()
						var last interface{ Wait() bool }
						for i := 0; i < perPublisher; i++ {
							ts := base.Add(time.Duration(round*perPublisher+i) * time.Millisecond).UnixMilli()
							last = pub.Publish(fmt.Sprintf("ioc/devices/cb-%d-%d/telemetry", p, i%100), 1, false,
								fmt.Sprintf(`{"ts":%d,"values":{"v":%d}}`, ts, i))
						}
						last.Wait()
					}()
				}
				wg.Wait()
				want := float64((round + 1) * publishers * perPublisher)
				waitFor(b, 5*time.Minute, "all stored", func() bool { return stored() >= want })
			}
			b.ReportMetric(float64(b.N*publishers*perPublisher)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
