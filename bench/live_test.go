package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// province is the box the live benchmarks place stations and viewports in (Bến Tre).
var province = [4]float64{106.05, 9.85, 106.65, 10.25}

// liveIOC starts the ioc binary on Mosquitto with the embedded store, for the live benchmarks, and
// returns its HTTP address.
func liveIOC(b *testing.B, m *mqtttest.Mosquitto) (*process, string) {
	dir := b.TempDir()
	root := repoRoot(b)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(b))
	conf := fmt.Sprintf(`
log: {level: warn}
http: {addr: "%s"}
broker: {enabled: false}
store: {path: "%s/ioc.db"}
geo: {admin_files: ["%s/configs/admin/83.geojson"]}
alarm: {store: {path: "%s/alarms.db"}}
reports: {store: {path: "%s/reports.db"}, photo_dir: "%s/photos", catalogue: "%s/configs/services.yaml", calendar: {holidays: "%s/configs/holidays-vn.yaml"}}
live: {flush_interval: 10ms}
admin: {password: "bench-mật-khẩu-2026", token: "%s"}
auth: {rate_limit_ip: "1000000:1", rate_limit_token: "1000000:1"}
collectors:
  - name: telemetry
    type: mqtt
    broker: "%s"
    client_id: ioc-bench-live
    qos: 1
    clean_session: true
    ack: after_store
    max_payload: 65536
    keep_alive: 30s
    topics:
      - {filter: "live/devices/+/telemetry", format: thingsboard}
`, httpAddr, dir, root, dir, dir, dir, root, root, benchToken, m.URL)
	path := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	p := startIOC(b, path, httpAddr)
	return p, httpAddr
}

// benchToken is the admin API token the live benchmarks' clients sign in with (admin.token).
const benchToken = "ioc_bench_0123456789abcdefghij"

// station is a device of the live load at a fixed place.
type station struct {
	id       string
	lon, lat float64
}

func stations(n int, rng *rand.Rand) []station {
	out := make([]station, n)
	for i := range out {
		out[i] = station{id: fmt.Sprintf("lv-%05d", i),
			lon: province[0] + rng.Float64()*(province[2]-province[0]), lat: province[1] + rng.Float64()*(province[3]-province[1])}
	}
	return out
}

// viewer is one websocket client on a random zoom-14 viewport; it records, for every item it receives,
// how long after its publish it arrived.
type viewer struct {
	conn *websocket.Conn
}

type liveFrame struct {
	Type  string `json:"type"`
	Items []struct {
		Values map[string]float64 `json:"values"`
	} `json:"items"`
}

// dialViewers opens n viewport clients; each subscribes to a random 0.06° × 0.04° view (zoom 14).
func dialViewers(b *testing.B, addr string, n int, rng *rand.Rand, onItem func(seq float64)) []*viewer {
	dialer := websocket.Dialer{ReadBufferSize: 4096, WriteBufferSize: 512, HandshakeTimeout: 30 * time.Second}
	out := make([]*viewer, 0, n)
	for range n {
		conn, _, err := dialer.Dial("ws://"+addr+"/api/v1/live?viewport=1", http.Header{"Authorization": {"Bearer " + benchToken}})
		if err != nil {
			b.Fatalf("dial viewer %d: %v", len(out), err)
		}
		lon := province[0] + rng.Float64()*(province[2]-province[0]-0.06)
		lat := province[1] + rng.Float64()*(province[3]-province[1]-0.04)
		sub := fmt.Sprintf(`{"type":"subscribe","bbox":[%f,%f,%f,%f],"zoom":14,"layers":["sensors"]}`, lon, lat, lon+0.06, lat+0.04)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
			b.Fatalf("subscribe viewer %d: %v", len(out), err)
		}
		v := &viewer{conn: conn}
		if onItem != nil {
			go func() {
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					var f liveFrame
					if os.Getenv("IOC_BENCH_DEBUG") != "" {
						fmt.Fprintf(os.Stderr, "frame: %.300s\n", data)
					}
					if json.Unmarshal(data, &f) != nil || f.Type != "update" {
						continue
					}
					for _, it := range f.Items {
						if seq, ok := it.Values["seq"]; ok {
							onItem(seq)
						}
					}
				}
			}()
		}
		out = append(out, v)
	}
	b.Cleanup(func() {
		for _, v := range out {
			v.conn.Close()
		}
	})
	return out
}

// BenchmarkLiveLatency measures publish → websocket delivery through Mosquitto and the ioc binary
// with 100, 1,000 and 10,000 clients on random zoom-14 viewports over 5,000 stations in Bến Tre, at
// 1,000 and 10,000 messages/s and at the most the publishers can send (rate=max), each for 5 s.
// Reported: p50, p99 and p99.9 in ms over every delivered item (coalescing may skip superseded ones),
// and the delivered items per second.
//
//	go test ./bench -run '^$' -bench LiveLatency -benchtime 1x -timeout 30m
func BenchmarkLiveLatency(b *testing.B) {
	m := startMosquitto(b)
	ioc, addr := liveIOC(b, m)
	rng := rand.New(rand.NewPCG(83, 10))
	st := stations(5000, rng)
	pubs := make([]pahoSender, 4)
	for i := range pubs {
		pubs[i] = pahoSender{mqttClient(b, m.URL, fmt.Sprintf("bench-live-pub-%d", i), true)}
	}
	// Every station reports once so that viewports have something in them.
	for i, s := range st {
		pubs[i%len(pubs)].send("live/devices/"+s.id+"/telemetry",
			fmt.Appendf(nil, `{"salinity":1,"seq":-1,"lat":%f,"lon":%f}`, s.lat, s.lon))
	}
	// seq grows across runs, so an item from an earlier run's backlog is never taken for a new one.
	var seq, received atomic.Int64
	var mu sync.Mutex
	sent := map[int64]time.Time{}
	var lat []time.Duration
	record := func(s float64) {
		now := time.Now()
		received.Add(1)
		mu.Lock()
		if t0, ok := sent[int64(s)]; ok {
			lat = append(lat, now.Sub(t0))
		}
		mu.Unlock()
	}
	// drain waits until nothing has reached the viewers for a second (at most 3 minutes): a run at the
	// maximum rate leaves a backlog in ioc that must not be measured as the next run's latency.
	drain := func() {
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
			before := received.Load()
			time.Sleep(time.Second)
			if received.Load() == before {
				return
			}
		}
	}
	open := 0
	for _, clients := range benchClients() {
		dialViewers(b, addr, clients-open, rng, record)
		open = clients
		time.Sleep(time.Second) // let the snapshots go out
		for _, rate := range []int{1000, 10000, 0} {
			name := fmt.Sprintf("clients=%d/rate=%d", clients, rate)
			if rate == 0 {
				name = fmt.Sprintf("clients=%d/rate=max", clients)
			}
			b.Run(name, func(b *testing.B) {
				for range b.N {
					mu.Lock()
					lat = lat[:0]
					clear(sent)
					mu.Unlock()
					drain()
					const dur = 5 * time.Second
					startAt := time.Now()
					first := seq.Load()
					published := 0
					var wg sync.WaitGroup
					per := len(pubs)
					for w := range per {
						wrng := rand.New(rand.NewPCG(uint64(w), uint64(clients)))
						wg.Go(func() {
							for i := w; time.Since(startAt) < dur; i += per {
								if rate > 0 {
									due := startAt.Add(time.Duration(i) * time.Second / time.Duration(rate))
									if d := time.Until(due); d > 0 {
										time.Sleep(d)
									}
								}
								s := st[int(wrng.Uint64()%uint64(len(st)))]
								n := seq.Add(1)
								mu.Lock()
								sent[n] = time.Now()
								mu.Unlock()
								pubs[w].send("live/devices/"+s.id+"/telemetry", fmt.Appendf(nil, `{"salinity":2,"seq":%d}`, n))
							}
						})
					}
					wg.Wait()
					published = int(seq.Load() - first)
					time.Sleep(500 * time.Millisecond) // the last frames
					mu.Lock()
					got := slices.Clone(lat)
					mu.Unlock()
					if len(got) == 0 {
						b.Fatalf("no item delivered to %d viewers; ioc said:\n%s", clients, ioc.output())
					}
					slices.Sort(got)
					p := func(q float64) float64 {
						return float64(got[min(len(got)-1, int(q*float64(len(got))))].Microseconds()) / 1000
					}
					b.ReportMetric(p(0.50), "p50_ms")
					b.ReportMetric(p(0.99), "p99_ms")
					b.ReportMetric(p(0.999), "p99.9_ms")
					b.ReportMetric(float64(len(got))/dur.Seconds(), "items/s")
					b.ReportMetric(float64(published)/time.Since(startAt).Seconds(), "published/s")
				}
			})
		}
	}
}

// BenchmarkIdleConnections measures the ioc process's resident memory per idle websocket connection:
// RSS before and after opening 10,000 viewport clients that subscribed and then stay silent.
//
//	go test ./bench -run '^$' -bench IdleConnections -benchtime 1x
func BenchmarkIdleConnections(b *testing.B) {
	m := startMosquitto(b)
	p, addr := liveIOC(b, m)
	const n = 10000
	for range b.N {
		time.Sleep(2 * time.Second)
		before := p.rssBytes(b)
		rng := rand.New(rand.NewPCG(1, 2))
		dialViewers(b, addr, n, rng, nil)
		time.Sleep(10 * time.Second) // handshakes done, their garbage collected
		if os.Getenv("IOC_BENCH_HOLD") != "" {
			time.Sleep(30 * time.Second) // time to take profiles with IOC_BENCH_PPROF
		}
		after := p.rssBytes(b)
		b.ReportMetric((after-before)/n/1024, "KiB/conn")
		b.ReportMetric(after/(1<<20), "rss_MiB")
	}
}

// pahoSender publishes at QoS 1 without waiting for each PUBACK.
type pahoSender struct{ c paho.Client }

func (p pahoSender) send(topic string, payload []byte) { p.c.Publish(topic, 1, false, payload) }

// benchClients are the client counts of BenchmarkLiveLatency (IOC_BENCH_CLIENTS=N for one, to profile).
func benchClients() []int {
	if v, err := strconv.Atoi(os.Getenv("IOC_BENCH_CLIENTS")); err == nil && v > 0 {
		return []int{v}
	}
	return []int{100, 1000, 10000}
}
