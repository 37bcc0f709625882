//go:build soak

package app

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
)

var (
	soakDuration = flag.Duration("soak.duration", 30*time.Minute, "how long TestSoak runs its load")
	soakEvery    = flag.Duration("soak.every", 20*time.Second, "time between disruptions in TestSoak")
	soakOnly     = flag.String("soak.only", "", "run only the disruptions whose name contains this")
	soakSkip     = flag.String("soak.skip", "", "leave out the disruptions whose name contains this")
)

// TestSoak (make soak; not in CI) runs mixed load for -soak.duration: readings through Mosquitto and
// through the embedded broker into InfluxDB (counted publishers, every PUBACK recorded) and camera
// pushes into SQLite (every 202 recorded), while every -soak.every one disruption follows the other in
// turn: ioc SIGKILLed, ioc SIGTERMed, InfluxDB frozen, InfluxDB killed, Mosquitto restarted. At the end
// everything acknowledged must be stored exactly once; it reports acknowledged against stored.
func TestSoak(t *testing.T) {
	iocBinary(t)
	dir := t.TempDir()
	// Mosquitto keeps ioc's session across its restarts only if it can save it: it drops root for its
	// own user, so the directory (and the path to it: not under t.TempDir, which is 0700) must be
	// writable by that user.
	mdir, err := os.MkdirTemp("", "ioc-soak-mosquitto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(mdir) })
	if err := os.Chmod(mdir, 0o777); err != nil {
		t.Fatal(err)
	}
	m := mqtttest.StartMosquitto(t, "persistence true", "persistence_location "+mdir+"/", "autosave_interval 1")
	srv := influxtest.Start(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	brokerAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	config := durableConfig(t, dir, httpAddr, brokerAddr, srv, "embedded", m.URL)
	p := startProcess(t, config, httpAddr)
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	pubs := []*countedPublisher{
		newCountedPublisher(t, "tcp://"+brokerAddr, "se", base),
		newCountedPublisher(t, m.URL, "sm", base),
	}
	push := newCountedPusher(httpAddr, base)
	push.pace = 20 * time.Millisecond

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(pubs))
	for _, pub := range pubs {
		wg.Add(1)
		go func() { // about 200 readings/s each
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if err := pub.publish(20); err != nil {
					errs <- fmt.Errorf("%s: %w", pub.prefix, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); push.run(2, stop) }()

	restartIOC := func(sig syscall.Signal) {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		<-p.done
		if sig == syscall.SIGTERM && p.err != nil {
			t.Fatalf("ioc stopped with %v\n%s", p.err, p.stderr.String())
		}
		p = startProcess(t, config, httpAddr)
	}
	disruptions := []struct {
		name string
		do   func()
	}{
		{"ioc SIGKILL", func() { restartIOC(syscall.SIGKILL) }},
		{"InfluxDB frozen 5 s", func() {
			if err := srv.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second) // the outage itself
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
		}},
		{"ioc SIGTERM", func() { restartIOC(syscall.SIGTERM) }},
		{"InfluxDB killed 5 s", func() {
			srv.Kill()
			time.Sleep(5 * time.Second) // the outage itself
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}},
		{"Mosquitto restarted", func() { m.Restart(t, syscall.SIGTERM) }},
	}
	disruptions = slices.DeleteFunc(disruptions, func(d struct {
		name string
		do   func()
	}) bool {
		return (*soakOnly != "" && !strings.Contains(d.name, *soakOnly)) || (*soakSkip != "" && strings.Contains(d.name, *soakSkip))
	})
	counts := map[string]int{}
	end := time.Now().Add(*soakDuration)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(*soakEvery):
		}
		d := disruptions[i%len(disruptions)]
		t.Logf("%s: %s", time.Now().Format(time.RFC3339), d.name)
		d.do()
		counts[d.name]++
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	failed := false
	for _, pub := range pubs {
		acked := pub.acked()
		awaitCount(len(acked), func() int { return len(influxReadings(t, srv, pub.prefix)) })
		n := pub.checkExactlyOnce(t, influxReadings(t, srv, pub.prefix), acked)
		t.Logf("readings %s: published %d, acknowledged %d, stored %d", pub.prefix, len(pub.toks), len(acked), n)
		failed = failed || t.Failed()
	}
	if failed {
		t.Logf("ioc said:\n%s", p.stderr.String())
	}
	p.stop(t)
	n := push.checkExactlyOnce(t, storedEventIDs(t, filepath.Join(dir, "ioc.db"), "kt"))
	t.Logf("camera pushes: accepted %d, stored %d", len(push.accepted), n)
	t.Logf("disruptions: %v over %s", counts, *soakDuration)
}
