package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordSink records what it is given and can be told to fail.
type recordSink struct {
	mu     sync.Mutex
	events []Event
	fail   atomic.Int32 // fail this many more writes
	gate   chan struct{}
}

func (s *recordSink) Write(ctx context.Context, evs []Event) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail.Load() > 0 {
		s.fail.Add(-1)
		return errors.New("disk on fire")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

func (s *recordSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func testConfig() PipelineConfig {
	return PipelineConfig{QueueSize: 4, OnFull: OnFullBlock, MaxFuture: time.Hour, SinkQueueSize: 4, SinkBatch: 10,
		FlushInterval: 5 * time.Millisecond}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ev(id string, v float64) Event {
	return Event{Entity: id, Type: TypeTelemetry, Time: time.Now(), Values: map[string]float64{"v": v}}
}

func TestPipelineAcksAfterDurableWrite(t *testing.T) {
	store := &recordSink{gate: make(chan struct{})}
	live := &recordSink{}
	p, err := NewPipeline(testConfig(), discard(), prometheus.NewRegistry(), nil,
		[]SinkSpec{{Name: "store", Sink: store, Durable: true}, {Name: "live", Sink: live}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Run(context.Background()); close(done) }()
	acked := make(chan struct{})
	if err := p.Emit(context.Background(), Batch{Events: []Event{ev("a", 1), ev("b", 2)}, Done: func() { close(acked) }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked:
		t.Fatal("acknowledged before the durable sink wrote")
	case <-time.After(50 * time.Millisecond):
	}
	close(store.gate)
	<-acked
	if store.len() != 2 {
		t.Fatalf("store has %d events, want 2", store.len())
	}
	p.Close()
	<-done
	if live.len() != 2 {
		t.Fatalf("live sink has %d events, want 2", live.len())
	}
	if err := p.Emit(context.Background(), Batch{Events: []Event{ev("c", 3)}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Emit after Close = %v, want ErrClosed", err)
	}
}

// sizeSink records the size of each write.
type sizeSink struct {
	mu    sync.Mutex
	sizes []int
}

func (s *sizeSink) Write(_ context.Context, evs []Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(evs))
	return nil
}

// TestPipelineSinkBatch: a sink's own Batch overrides the pipeline's SinkBatch for that sink only.
func TestPipelineSinkBatch(t *testing.T) {
	small, large := &sizeSink{}, &sizeSink{}
	cfg := testConfig()
	cfg.QueueSize, cfg.SinkQueueSize, cfg.FlushInterval = 64, 64, time.Minute // only size or Close flushes
	p, err := NewPipeline(cfg, discard(), prometheus.NewRegistry(), nil,
		[]SinkSpec{{Name: "small", Sink: small, Durable: true}, {Name: "large", Sink: large, Durable: true, Batch: 25}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Run(context.Background()); close(done) }()
	for i := 0; i < 12; i++ {
		if err := p.Emit(context.Background(), Batch{Events: []Event{ev("a", 1), ev("b", 2), ev("c", 3), ev("d", 4), ev("e", 5)}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	<-done
	for _, tc := range []struct {
		name string
		s    *sizeSink
		want []int
	}{
		{"pipeline default (10)", small, []int{10, 10, 10, 10, 10, 10}},
		{"sink batch 25", large, []int{25, 25, 10}},
	} {
		if !slices.Equal(tc.s.sizes, tc.want) {
			t.Errorf("%s: write sizes %v, want %v", tc.name, tc.s.sizes, tc.want)
		}
	}
}

func TestPipelineRetriesDurableSink(t *testing.T) {
	store := &recordSink{}
	store.fail.Store(2)
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	p, err := NewPipeline(cfg, discard(), reg, nil, []SinkSpec{{Name: "store", Sink: store, Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Run(context.Background()) }()
	acked := make(chan struct{})
	if err := p.Emit(context.Background(), Batch{Events: []Event{ev("a", 1)}, Done: func() { close(acked) }}); err != nil {
		t.Fatal(err)
	}
	<-acked
	if store.len() != 1 {
		t.Fatalf("store has %d events after retries, want 1", store.len())
	}
	if got := testutil.ToFloat64(p.m.errors.WithLabelValues("store")); got != 2 {
		t.Fatalf("write errors = %v, want 2", got)
	}
	p.Close()
}

func TestPipelineLeavesUnstoredBatchUnacked(t *testing.T) {
	store := &recordSink{}
	store.fail.Store(1 << 20)
	p, err := NewPipeline(testConfig(), discard(), prometheus.NewRegistry(), nil, []SinkSpec{{Name: "store", Sink: store, Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	var acked atomic.Bool
	if err := p.Emit(context.Background(), Batch{Events: []Event{ev("a", 1)}, Done: func() { acked.Store(true) }}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	time.Sleep(20 * time.Millisecond)
	cancel() // shutdown deadline: the sink gives up
	<-done
	if acked.Load() {
		t.Fatal("a batch the store never wrote was acknowledged")
	}
}

func TestPipelineRejectsInvalidEvents(t *testing.T) {
	store := &recordSink{}
	reg := prometheus.NewRegistry()
	stage := StageFunc(func(_ context.Context, e *Event) error {
		if e.Entity == "blocked" {
			return Reject("blocked", "test stage refuses it")
		}
		e.Kind = "checked"
		return nil
	})
	p, err := NewPipeline(testConfig(), discard(), reg, []Stage{stage}, []SinkSpec{{Name: "store", Sink: store, Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Run(context.Background()); close(done) }()
	future := ev("f", 1)
	future.Time = time.Now().Add(2 * time.Hour)
	old := ev("o", 1)
	old.Time = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	nan := ev("n", 0)
	nan.Values["v"] = nan.Values["v"] / zero()
	badLoc := ev("l", 1)
	badLoc.Location, badLoc.HasLocation = [2]float64{200, 10}, true
	acked := make(chan struct{})
	batch := []Event{ev("ok", 1), future, old, nan, badLoc, ev("blocked", 1), {Time: time.Now()}}
	if err := p.Emit(context.Background(), Batch{Events: batch, Done: func() { close(acked) }}); err != nil {
		t.Fatal(err)
	}
	<-acked
	p.Close()
	<-done
	if store.len() != 1 || store.events[0].Entity != "ok" || store.events[0].Kind != "checked" {
		t.Fatalf("stored %+v, want only the valid event, through the stage", store.events)
	}
	for reason, want := range map[string]float64{ReasonTimeFuture: 1, ReasonTimeTooOld: 1, ReasonNotFinite: 1,
		ReasonBadLocation: 1, "blocked": 1, ReasonNoEntity: 1} {
		if got := testutil.ToFloat64(p.m.rejected.WithLabelValues(reason)); got != want {
			t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
		}
	}
}

func zero() float64 { return 0 }

func TestPipelineDropPolicyCounts(t *testing.T) {
	store := &recordSink{gate: make(chan struct{})}
	cfg := testConfig()
	cfg.OnFull = OnFullDrop
	cfg.QueueSize, cfg.SinkQueueSize, cfg.SinkBatch = 1, 1, 1
	p, err := NewPipeline(cfg, discard(), prometheus.NewRegistry(), nil, []SinkSpec{{Name: "store", Sink: store, Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Run(context.Background()) }()
	var dropped, dones atomic.Int32
	for i := 0; i < 50; i++ {
		err := p.Emit(context.Background(), Batch{Events: []Event{ev("a", float64(i))}, Done: func() { dones.Add(1) }})
		if errors.Is(err, ErrDropped) {
			dropped.Add(1)
		}
	}
	if dropped.Load() == 0 {
		t.Fatal("nothing dropped with a blocked sink and on_full: drop")
	}
	if got := testutil.ToFloat64(p.m.dropped.WithLabelValues("input")); got != float64(dropped.Load()) {
		t.Fatalf("drop counter = %v, want %d", got, dropped.Load())
	}
	close(store.gate)
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for dones.Load() != 50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if dones.Load() != 50 {
		t.Fatalf("Done called %d times, want 50 (once per batch, dropped or stored)", dones.Load())
	}
	if int32(store.len())+dropped.Load() != 50 {
		t.Fatalf("stored %d + dropped %d != 50", store.len(), dropped.Load())
	}
}

func TestNewPipelineRejectsBadConfig(t *testing.T) {
	cfg := testConfig()
	cfg.OnFull = "sometimes"
	if _, err := NewPipeline(cfg, discard(), nil, nil, nil); err == nil {
		t.Fatal("on_full: sometimes accepted")
	}
	cfg = testConfig()
	cfg.QueueSize = 0
	if _, err := NewPipeline(cfg, discard(), nil, nil, nil); err == nil {
		t.Fatal("queue_size 0 accepted")
	}
}

// laneSink blocks writes that contain the entity held until release is closed, and records every
// event it wrote in order.
type laneSink struct {
	held    string
	release chan struct{}
	mu      sync.Mutex
	events  []Event
}

func (s *laneSink) Write(ctx context.Context, evs []Event) error {
	for _, e := range evs {
		if e.Entity == s.held {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

// entitiesInLanes returns two entity IDs that fall in different lanes of n.
func entitiesInLanes(t *testing.T, n uint32) (string, string) {
	t.Helper()
	a := "slow-station"
	for i := range 100 {
		b := "fast-station-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if laneOf(b, n) != laneOf(a, n) {
			return a, b
		}
	}
	t.Fatal("no two lanes found")
	return "", ""
}

// TestPipelineLanes: a laned durable sink writes lanes concurrently (a held lane does not hold back
// another lane's acknowledgement), acknowledges a batch split across lanes only once every part is
// written, and keeps each entity's events in order.
func TestPipelineLanes(t *testing.T) {
	const lanes = 4
	slow, fast := entitiesInLanes(t, lanes)
	sink := &laneSink{held: slow, release: make(chan struct{})}
	cfg := testConfig()
	cfg.QueueSize, cfg.SinkQueueSize = 256, 256
	p, err := NewPipeline(cfg, discard(), prometheus.NewRegistry(), nil,
		[]SinkSpec{{Name: "influx", Sink: sink, Durable: true, Lanes: lanes}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Run(context.Background()); close(done) }()
	emit := func(evs ...Event) chan struct{} {
		acked := make(chan struct{})
		if err := p.Emit(context.Background(), Batch{Events: evs, Done: func() { close(acked) }}); err != nil {
			t.Fatal(err)
		}
		return acked
	}
	split := emit(ev(fast, 0), ev(slow, 0)) // one message, two lanes
	held := emit(ev(slow, 1))
	var free []chan struct{}
	for i := 1; i <= 50; i++ {
		free = append(free, emit(ev(fast, float64(i))))
	}
	for i, acked := range free {
		select {
		case <-acked:
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d of the free lane not acknowledged while another lane is held: lanes are not concurrent", i)
		}
	}
	for name, acked := range map[string]chan struct{}{"split batch": split, "held batch": held} {
		select {
		case <-acked:
			t.Fatalf("%s acknowledged before its held part was written", name)
		default:
		}
	}
	close(sink.release)
	<-split
	<-held
	p.Close()
	<-done
	next := map[string]float64{}
	for _, e := range sink.events {
		if e.Values["v"] != next[e.Entity] {
			t.Fatalf("%s: wrote value %v, want %v next: one entity's events out of order", e.Entity, e.Values["v"], next[e.Entity])
		}
		next[e.Entity]++
	}
	if next[fast] != 51 || next[slow] != 2 {
		t.Fatalf("wrote %v events per entity, want %s 51 and %s 2", next, fast, slow)
	}
}
