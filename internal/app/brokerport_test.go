package app

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// TestBrokerNextFreePortIsStable: with broker.on_taken next_free a taken port moves the embedded broker to
// the next free one, and to the same one again at the next start (make run printed a new random port at
// every start); with the default (fail) a taken port is still an error naming broker.listen.
func TestBrokerNextFreePortIsStable(t *testing.T) {
	var held net.Listener
	var port int
	for range 50 { // a taken port whose next one is free
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		if next, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
			next.Close()
			held = ln
			break
		}
		ln.Close()
	}
	if held == nil {
		t.Fatal("found no taken port with a free next one")
	}
	defer held.Close()
	want := "127.0.0.1:" + strconv.Itoa(port+1)
	for run := range 2 {
		cfg := testConfig(t)
		cfg.Broker.Listen, cfg.Broker.OnTaken = held.Addr().String(), "next_free"
		ctx, cancel := context.WithCancel(context.Background())
		a, err := Start(ctx, cfg, testLogger(t), Options{})
		if err != nil {
			cancel()
			t.Fatalf("start %d: %v", run, err)
		}
		got := a.Broker.Addr()
		cancel()
		if err := a.Wait(); err != nil {
			t.Fatalf("stop %d: %v", run, err)
		}
		if got != want {
			t.Fatalf("start %d: broker on %s, want the next free port %s", run, got, want)
		}
	}
	cfg := testConfig(t)
	cfg.Broker.Listen = held.Addr().String()
	if _, err := Start(t.Context(), cfg, testLogger(t), Options{}); err == nil {
		t.Fatal("on_taken fail: a taken port must be an error")
	}
}
