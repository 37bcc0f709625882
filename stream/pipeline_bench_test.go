package stream

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// nopSink counts what it is given.
type nopSink struct{ n atomic.Int64 }

func (s *nopSink) Write(_ context.Context, evs []Event) error {
	s.n.Add(int64(len(evs)))
	return nil
}

// BenchmarkPipeline pushes one-event batches (one MQTT message each) from four emitters through the
// pipeline with ioc's sink layout (a durable store, a live state sink and a durable sink of four
// lanes) and waits for every acknowledgement: the pipeline's own cost per message, channel hops and
// acknowledgements included. cpu_ns/msg is the process's CPU time per message, which unlike ns/op
// hardly depends on what else the machine runs.
func BenchmarkPipeline(b *testing.B) {
	cfg := PipelineConfig{QueueSize: 1024, OnFull: OnFullBlock, MaxFuture: time.Hour, SinkQueueSize: 1024, SinkBatch: 2000,
		FlushInterval: 20 * time.Millisecond}
	store, state, influx := &nopSink{}, &nopSink{}, &nopSink{}
	p, err := NewPipeline(cfg, discard(), nil, nil, []SinkSpec{{Name: "store", Sink: store, Durable: true},
		{Name: "state", Sink: state}, {Name: "influx", Sink: influx, Durable: true, Batch: 1000, Lanes: 4}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Run(context.Background()); close(done) }()
	var acked atomic.Int64
	ack := func() { acked.Add(1) }
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNow(b)
	const emitters = 4
	finished := make(chan struct{}, emitters)
	for e := range emitters {
		go func() {
			defer func() { finished <- struct{}{} }()
			for i := e; i < b.N; i += emitters {
				ev := Event{Entity: "bt-" + strconv.Itoa(i%10000), Type: TypeTelemetry, Time: now, Values: map[string]float64{"v": 1}}
				if err := p.Emit(context.Background(), Batch{Events: []Event{ev}, Done: ack}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for range emitters {
		<-finished
	}
	for deadline := time.Now().Add(time.Minute); acked.Load() < int64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // the last partial batches wait for FlushInterval, not this long
			b.Fatalf("%d of %d messages acknowledged after a minute", acked.Load(), b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow(b)-cpu0)/float64(b.N), "cpu_ns/msg")
	p.Close()
	<-done
	if store.n.Load() != int64(b.N) || influx.n.Load() != int64(b.N) {
		b.Fatalf("stored %d and %d of %d", store.n.Load(), influx.n.Load(), b.N)
	}
}

func cpuNow(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
