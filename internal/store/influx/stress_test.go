package influx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/store/influx"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
)

// TestSpoolStress writes small batches (three readings back to back) from four writers at once, as the
// pipeline's lanes do, before, during and while ending outages of InfluxDB: frozen (SIGSTOP) and thawed,
// killed and restarted, twice each. Every point whose Write returned nil is stored exactly once.
func TestSpoolStress(t *testing.T) {
	t.Parallel() // each test has its own influxd
	srv := influxtest.Start(t)
	st, reg := open(t, srv, "", func(c *influx.Config) { c.Timeout = time.Second }) // the least allowed
	ctx := context.Background()
	const writers, batches, per = 4, 10, 3

	var mu sync.Mutex
	accepted := map[int]bool{}
	next := 0
	// burst writes batches batches of per readings from each writer at once, then returns.
	burst := func() {
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range batches {
					mu.Lock()
					from := next
					next += per
					mu.Unlock()
					if err := st.Write(ctx, batch(from, per, 40)); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					mu.Lock()
					for i := from; i < from+per; i++ {
						accepted[i] = true
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	outage := func(down, up func() error) {
		t.Helper()
		burst()
		if err := down(); err != nil {
			t.Fatal(err)
		}
		burst() // the first writes wait for the timeout, the rest go to the spool
		recovered := make(chan error, 1)
		go func() { recovered <- up() }()
		burst() // while InfluxDB comes back
		if err := <-recovered; err != nil {
			t.Fatal(err)
		}
		burst()
		waitFor(t, "spool replayed", func() bool { return metric(t, reg, "ioc_influx_spool_points", nil) == 0 })
	}
	kill := func() error { srv.Kill(); return nil }
	for range 2 {
		outage(srv.Pause, srv.Resume)
		outage(kill, srv.Restart)
	}

	got := levels(t, srv)
	seen := map[int]int{}
	for _, v := range got {
		seen[v]++
		if seen[v] == 2 {
			t.Errorf("level %d stored twice", v)
		}
		if v < 0 || v >= next {
			t.Errorf("level %d stored but never written", v)
		}
	}
	lost := 0
	for i := range accepted {
		if seen[i] == 0 {
			lost++
		}
	}
	t.Logf("%d points accepted, %d stored, %v spooled, %v replayed", len(accepted), len(got),
		metric(t, reg, "ioc_influx_spooled_points_total", nil), metric(t, reg, "ioc_influx_replayed_points_total", nil))
	if lost > 0 || len(accepted) != next {
		t.Fatalf("%d of %d accepted points lost (%d written)", lost, len(accepted), next)
	}
}
