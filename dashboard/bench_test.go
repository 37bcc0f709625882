package dashboard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/stream"
)

// BenchmarkLiveFanout: 1,000 websocket clients, each subscribed to a random city-block viewport
// (0.04° square, zoom 15) over 20,000 entities in Bến Tre, while 10,000 entity updates a second
// (random walks, so entities also enter and leave views) are published for 3 s. Latency is from
// Publish to the client having decoded the frame; ns/op is one whole run. CPU is the process's
// (server and the 1,000 clients' JSON decoding together) per wall second.
//
//	go test -run '^$' -bench LiveFanout -benchtime 1x ./dashboard/
func BenchmarkLiveFanout(b *testing.B) {
	const (
		entities = 20000
		clients  = 1000
		rate     = 10000 // updates per second
		tick     = 10 * time.Millisecond
		run      = 3 * time.Second
	)
	rng := rand.New(rand.NewPCG(8, 3))
	area := [4]float64{106.0, 9.8, 106.8, 10.35}
	pos := make([][2]float64, entities)
	initial := make([]Item, entities)
	for i := range pos {
		pos[i] = [2]float64{area[0] + rng.Float64()*(area[2]-area[0]), area[1] + rng.Float64()*(area[3]-area[1])}
		initial[i] = item(fmt.Sprintf("e%05d", i), "salinity", stream.TypeTelemetry, pos[i][0], pos[i][1])
	}
	h := NewHub(HubConfig{PingInterval: time.Minute, WriteTimeout: 10 * time.Second, MaxMessage: 16 << 10,
		MaxPending: 1 << 20, FlushInterval: 50 * time.Millisecond, ClusterBelowZoom: 13, ClusterInterval: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil, func() []Item { return initial })
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		_ = h.Run(ctx)
	}()
	srv := httptest.NewServer(h)
	defer func() {
		cancel()
		<-hubDone
		srv.Close()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	var (
		mu        sync.Mutex
		latencies []time.Duration
		frames    int
		leaves    int
		wg        sync.WaitGroup
	)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conn, _, err := websocket.DefaultDialer.Dial(url+"?viewport=1", nil)
		if err != nil {
			b.Fatalf("client %d: %v", i, err)
		}
		conns[i] = conn
		var f Frame
		if err := conn.ReadJSON(&f); err != nil || f.Type != "snapshot" || f.Mode != "viewport" || len(f.Items) != 0 {
			b.Fatalf("client %d first frame %s %s with %d items: %v", i, f.Type, f.Mode, len(f.Items), err)
		}
		x, y := area[0]+rng.Float64()*(area[2]-area[0]-0.04), area[1]+rng.Float64()*(area[3]-area[1]-0.04)
		sub := fmt.Sprintf(`{"type":"subscribe","bbox":[%f,%f,%f,%f],"zoom":15}`, x, y, x+0.04, y+0.04)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
			b.Fatal(err)
		}
		if err := conn.ReadJSON(&f); err != nil || f.Type != "snapshot" || f.Mode != "items" {
			b.Fatalf("client %d viewport snapshot %s %s: %v", i, f.Type, f.Mode, err)
		}
	}
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			nf, nl := 0, 0
			for {
				var f Frame
				if err := conn.ReadJSON(&f); err != nil {
					break
				}
				now := time.Now().UnixNano()
				nf++
				nl += len(f.Leave)
				for _, it := range f.Items {
					local = append(local, time.Duration(now-int64(it.Values["sent"])))
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			frames += nf
			leaves += nl
			mu.Unlock()
		}()
	}

	cpu0 := cpuTime()
	start := time.Now()
	published := 0
	for b.Loop() {
		t := time.NewTicker(tick)
		t0 := time.Now()
		for time.Since(t0) < run {
			<-t.C
			// Paced by the clock, not by ticks: a late tick publishes what is due.
			due := int(time.Since(t0).Seconds()*rate) - published
			batch := make([]Item, 0, due)
			sent := float64(time.Now().UnixNano())
			for range due {
				i := rng.IntN(entities)
				pos[i][0] = min(max(pos[i][0]+(rng.Float64()-0.5)*0.01, area[0]), area[2])
				pos[i][1] = min(max(pos[i][1]+(rng.Float64()-0.5)*0.01, area[1]), area[3])
				it := item(initial[i].ID, "salinity", stream.TypeTelemetry, pos[i][0], pos[i][1])
				it.Values = map[string]float64{"sent": sent}
				batch = append(batch, it)
			}
			h.Publish(batch)
			published += len(batch)
		}
		t.Stop()
	}
	time.Sleep(200 * time.Millisecond) // let the last flush arrive
	wall := time.Since(start)
	cpu := cpuTime() - cpu0
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	b.StopTimer()
	if len(latencies) == 0 {
		b.Fatal("no update reached any client")
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(published)/wall.Seconds(), "updates/s")
	b.ReportMetric(float64(len(latencies))/wall.Seconds(), "items-delivered/s")
	b.ReportMetric(float64(frames)/wall.Seconds(), "frames/s")
	b.ReportMetric(float64(leaves), "leaves")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
