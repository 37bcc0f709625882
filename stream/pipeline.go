package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Queue full policies.
const (
	OnFullBlock = "block" // the sender waits: backpressure reaches the source
	OnFullDrop  = "drop"  // the item is dropped and counted
)

// ErrClosed is returned by Emit after the pipeline stopped taking input.
var ErrClosed = errors.New("pipeline closed")

// ErrDropped is returned by Emit when an on_full: drop queue had no room.
var ErrDropped = errors.New("pipeline queue full: batch dropped")

// PipelineConfig sizes the pipeline.
type PipelineConfig struct {
	QueueSize     int           // inbound batches buffered between collectors and the processor
	OnFull        string        // OnFullBlock or OnFullDrop for the inbound queue
	MaxFuture     time.Duration // how far ahead of now an event time may be
	SinkQueueSize int           // batches buffered per sink
	SinkBatch     int           // events per sink write, at most
	FlushInterval time.Duration // longest wait before a partial sink batch is written
}

// SinkSpec attaches a sink to the pipeline. A durable sink holds acknowledgements until its writes
// succeed and is fed with blocking sends; a live sink (state, websocket hub) is fed with non-blocking
// sends and its drops are counted.
type SinkSpec struct {
	Name    string
	Sink    Sink
	Durable bool
	Batch   int // events per write for this sink (0: PipelineConfig.SinkBatch)
	// Lanes is how many writes of this sink may be in flight at once (0 or 1: one). Events are split
	// among lanes by entity, so the events of one entity are written in order, one write at a time;
	// a batch is acknowledged once every lane that took part of it has written its part.
	Lanes int
}

// Pipeline moves batches from collectors through validation and stages to sinks. Collectors call Emit;
// Run processes until Close is called and every queue is drained.
type Pipeline struct {
	cfg     PipelineConfig
	log     *slog.Logger
	m       *pipelineMetrics
	stages  []Stage
	sinks   []*sinkRunner // every runner: one per sink, or one per lane of a laned sink
	outs    []sinkOut     // what dispatch sends to, in SinkSpec order
	durable int32
	now     func() time.Time

	mu     sync.RWMutex // guards closed and sends on in
	closed bool
	in     chan Batch
}

type pipelineMetrics struct {
	accepted *prometheus.CounterVec
	rejected *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	depth    *prometheus.GaugeVec
	write    *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	batch    *prometheus.HistogramVec
}

func newPipelineMetrics(reg prometheus.Registerer) *pipelineMetrics {
	m := &pipelineMetrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_pipeline_events_accepted_total", Help: "Events that passed validation, by event type."}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_pipeline_events_rejected_total", Help: "Events rejected by validation or a stage, by reason."}, []string{"reason"}),
		dropped:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_pipeline_dropped_total", Help: "Batches dropped because a queue was full, by queue."}, []string{"queue"}),
		depth:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_pipeline_queue_depth", Help: "Batches waiting in a pipeline queue, by queue."}, []string{"queue"}),
		write:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ioc_sink_write_seconds", Help: "Time to write one batch to a sink.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"sink"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_sink_write_errors_total", Help: "Failed sink writes (retried for durable sinks)."}, []string{"sink"}),
		batch:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ioc_sink_batch_events", Help: "Events per sink write.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.rejected, m.dropped, m.depth, m.write, m.errors, m.batch)
	}
	return m
}

// NewPipeline builds a pipeline. Stages run in order on every valid event; sinks receive the result.
func NewPipeline(cfg PipelineConfig, log *slog.Logger, reg prometheus.Registerer, stages []Stage, sinks []SinkSpec) (*Pipeline, error) {
	if cfg.QueueSize <= 0 || cfg.SinkQueueSize <= 0 || cfg.SinkBatch <= 0 || cfg.FlushInterval <= 0 {
		return nil, fmt.Errorf("pipeline: queue sizes, sink batch and flush interval must be positive")
	}
	if cfg.OnFull != OnFullBlock && cfg.OnFull != OnFullDrop {
		return nil, fmt.Errorf("pipeline: on_full must be %q or %q", OnFullBlock, OnFullDrop)
	}
	p := &Pipeline{cfg: cfg, log: log, m: newPipelineMetrics(reg), stages: stages, now: time.Now,
		in: make(chan Batch, cfg.QueueSize)}
	for _, s := range sinks {
		out := sinkOut{spec: s}
		for range max(s.Lanes, 1) {
			r := &sinkRunner{spec: s, p: p, q: make(chan sinkItem, cfg.SinkQueueSize)}
			out.lanes = append(out.lanes, r)
			p.sinks = append(p.sinks, r)
		}
		p.outs = append(p.outs, out)
		if s.Durable {
			p.durable++
		}
	}
	return p, nil
}

// Emit hands a batch to the pipeline; see the Emit type for the contract.
func (p *Pipeline) Emit(ctx context.Context, b Batch) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if p.cfg.OnFull == OnFullDrop {
		select {
		case p.in <- b:
			return nil
		default:
			p.m.dropped.WithLabelValues("input").Inc()
			if b.Done != nil {
				b.Done()
			}
			return ErrDropped
		}
	}
	select {
	case p.in <- b:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("emit: %w", ctx.Err())
	}
}

// Close stops taking input. Run returns after everything already taken has reached the sinks.
func (p *Pipeline) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.in)
	}
}

// Run processes batches until Close has been called and all queues are drained. ctx bounds sink
// retries: when it ends, durable sinks give up on failing writes and their batches stay unacknowledged.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range p.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx)
		}()
	}
	p.process(ctx)
	for _, s := range p.sinks {
		close(s.q)
	}
	wg.Wait()
	return nil
}

// Depth reports the number of batches waiting in the input queue.
func (p *Pipeline) Depth() int { return len(p.in) }

// maxGroup bounds how many events process gathers from batches already queued into one dispatch.
const maxGroup = 1024

// span is one input batch within a group: its valid events end at end (they start where the previous
// span ended), and t acknowledges it (nil: the batch has no Done, or none of its events is valid).
type span struct {
	end int
	t   *tracker
}

// process validates and stages every batch and dispatches the result. Batches already waiting in the
// input queue (a backlog: one MQTT message each) are gathered, in order, into one dispatch of up to
// maxGroup events, so each sink queue takes one item per group instead of one per message. Each batch
// keeps its own acknowledgement: it is acknowledged once every durable sink (every lane that took
// part of it) has written its events, whatever the rest of its group waits for.
func (p *Pipeline) process(ctx context.Context) {
	lim := Limits{MaxFuture: p.cfg.MaxFuture}
	var (
		accepted = map[string]prometheus.Counter{} // by event type: a handful
		depth    = p.m.depth.WithLabelValues("input")
		valid    []Event
		spans    []span
	)
	take := func(b Batch, now time.Time) {
		start := len(valid)
		for i := range b.Events {
			ev := b.Events[i]
			err := Validate(&ev, now, lim)
			for _, st := range p.stages {
				if err != nil {
					break
				}
				err = st.Process(ctx, &ev)
			}
			if err != nil {
				p.m.rejected.WithLabelValues(ReasonOf(err)).Inc()
				continue
			}
			c := accepted[ev.Type]
			if c == nil {
				c = p.m.accepted.WithLabelValues(ev.Type)
				accepted[ev.Type] = c
			}
			c.Inc()
			valid = append(valid, ev)
		}
		if b.Done == nil {
			spans = append(spans, span{end: len(valid)})
			return
		}
		if len(valid) == start || p.durable == 0 {
			b.Done() // nothing to store
			spans = append(spans, span{end: len(valid)})
			return
		}
		spans = append(spans, span{end: len(valid), t: &tracker{done: b.Done}})
	}
	for b := range p.in {
		now := p.now()
		// valid is handed to the sinks (a new one per group); spans is only read here.
		valid, spans = make([]Event, 0, min(len(b.Events)*(1+len(p.in)), maxGroup+len(b.Events))), spans[:0]
		take(b, now)
	gather:
		for len(valid) < maxGroup {
			select {
			case nb, ok := <-p.in:
				if !ok {
					break gather
				}
				take(nb, now)
			default:
				break gather
			}
		}
		depth.Set(float64(len(p.in)))
		p.dispatch(valid, spans)
	}
}

// dispatch sends a group's valid events to every sink. Every part for a durable sink is counted on
// the trackers of the batches it holds before any part is sent, so no batch can be acknowledged before
// its last part is written.
func (p *Pipeline) dispatch(events []Event, spans []span) {
	if len(events) == 0 {
		return
	}
	var all []*tracker // the trackers of the group, shared by the parts of one-lane sinks
	for _, sp := range spans {
		if sp.t != nil {
			all = append(all, sp.t)
		}
	}
	type part struct {
		runner *sinkRunner
		item   sinkItem
	}
	parts := make([]part, 0, len(p.sinks))
	for _, o := range p.outs {
		if len(o.lanes) == 1 {
			item := sinkItem{events: events}
			if o.spec.Durable {
				item.ts = all
			}
			parts = append(parts, part{o.lanes[0], item})
			continue
		}
		for l, item := range o.split(events, spans) {
			if len(item.events) > 0 {
				parts = append(parts, part{o.lanes[l], item})
			}
		}
	}
	for _, pt := range parts {
		for _, t := range pt.item.ts {
			t.left.Add(1)
		}
	}
	for _, pt := range parts {
		pt.runner.send(pt.item)
	}
}

// sinkOut is one sink as dispatch sees it: its runners, one per lane.
type sinkOut struct {
	spec  SinkSpec
	lanes []*sinkRunner
}

// split divides a group among the lanes of a sink by entity, in order, each lane's part with the
// trackers of the batches it holds events of (durable sinks only).
func (o sinkOut) split(events []Event, spans []span) []sinkItem {
	n := uint32(len(o.lanes))
	items := make([]sinkItem, n)
	first := laneOf(events[0].Entity, n)
	same := true
	for i := 1; i < len(events) && same; i++ {
		same = laneOf(events[i].Entity, n) == first
	}
	if same { // one device, or one lane by chance: the group as it is
		items[first].events = events
		if o.spec.Durable {
			for _, sp := range spans {
				if sp.t != nil {
					items[first].ts = append(items[first].ts, sp.t)
				}
			}
		}
		return items
	}
	// One backing array for every lane's part, carved by lane counts: one allocation per group.
	lane := make([]uint32, len(events))
	count := make([]int, n)
	for i := range events {
		lane[i] = laneOf(events[i].Entity, n)
		count[lane[i]]++
	}
	backing := make([]Event, 0, len(events))
	for l := range items {
		items[l].events = backing[len(backing) : len(backing) : len(backing)+count[l]]
		backing = backing[:len(backing)+count[l]]
	}
	start := 0
	for _, sp := range spans {
		for i := start; i < sp.end; i++ {
			it := &items[lane[i]]
			it.events = append(it.events, events[i])
			if o.spec.Durable && sp.t != nil && (len(it.ts) == 0 || it.ts[len(it.ts)-1] != sp.t) {
				it.ts = append(it.ts, sp.t)
			}
		}
		start = sp.end
	}
	return items
}

// send queues an item: durable sinks block (backpressure), live sinks drop and count.
func (s *sinkRunner) send(item sinkItem) {
	if !s.spec.Durable {
		select {
		case s.q <- item:
		default:
			s.p.m.dropped.WithLabelValues(s.spec.Name).Inc()
		}
		return
	}
	s.q <- item
}

// laneOf picks an entity's lane (FNV-1a of its ID).
func laneOf(entity string, lanes uint32) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(entity); i++ {
		h ^= uint32(entity[i])
		h *= 16777619
	}
	return h % lanes
}

type tracker struct {
	left atomic.Int32
	done func()
}

func (t *tracker) release() {
	if t != nil && t.left.Add(-1) == 0 {
		t.done()
	}
}

// sinkItem is a part of a group for one sink runner: its events and the trackers to release once
// they are written.
type sinkItem struct {
	events []Event
	ts     []*tracker
}

type sinkRunner struct {
	spec SinkSpec
	p    *Pipeline
	q    chan sinkItem
}

// run gathers queued items into batches of up to SinkBatch (or the spec's Batch) events, or whatever arrived within
// FlushInterval (durable sinks) or was already queued (live sinks), and writes them.
func (s *sinkRunner) run(ctx context.Context) {
	cfg := s.p.cfg
	batch := cfg.SinkBatch
	if s.spec.Batch > 0 {
		batch = s.spec.Batch
	}
	var (
		events  []Event
		pending []*tracker
		timer   = time.NewTimer(time.Hour)
		depth   = s.p.m.depth.WithLabelValues(s.spec.Name)
		// lost is set once a durable write was given up (at shutdown): from then on nothing is
		// released, so no batch with a part left unwritten is acknowledged.
		lost bool
	)
	timer.Stop()
	flush := func() {
		if len(events) > 0 && !s.write(ctx, events) && s.spec.Durable {
			lost = true // not stored: leave the sources unacknowledged so they redeliver
		}
		if !lost {
			for _, t := range pending {
				t.release()
			}
		}
		events, pending = events[:0], pending[:0]
	}
	for {
		var item sinkItem
		var ok bool
		if len(events) == 0 {
			item, ok = <-s.q
		} else {
			select {
			case item, ok = <-s.q:
			case <-timer.C:
				flush()
				continue
			}
		}
		if !ok {
			flush()
			return
		}
		// An item larger than what is left of the batch is written in several writes; its trackers
		// are released with the write of its last events.
		for rest := item.events; len(rest) > 0; {
			if len(events) == 0 {
				timer.Reset(cfg.FlushInterval)
			}
			n := min(len(rest), batch-len(events))
			events, rest = append(events, rest[:n]...), rest[n:]
			if len(rest) == 0 {
				pending = append(pending, item.ts...)
			}
			if len(events) >= batch {
				timer.Stop()
				flush()
			}
		}
		depth.Set(float64(len(s.q)))
		// Live sinks write as soon as nothing more is waiting (latency first); durable sinks gather up to
		// FlushInterval for larger transactions.
		if len(events) > 0 && !s.spec.Durable && len(s.q) == 0 {
			timer.Stop()
			flush()
		}
	}
}

// write writes one batch; durable sinks retry with backoff until it succeeds or ctx ends. It reports
// whether the batch was written.
func (s *sinkRunner) write(ctx context.Context, events []Event) bool {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := s.spec.Sink.Write(ctx, events)
		s.p.m.write.WithLabelValues(s.spec.Name).Observe(time.Since(start).Seconds())
		if err == nil {
			s.p.m.batch.WithLabelValues(s.spec.Name).Observe(float64(len(events)))
			return true
		}
		s.p.m.errors.WithLabelValues(s.spec.Name).Inc()
		if !s.spec.Durable {
			s.p.log.Warn("live sink write failed", "sink", s.spec.Name, "error", err)
			return false
		}
		s.p.log.Error("durable sink write failed; retrying", "sink", s.spec.Name, "events", len(events), "retry_in", backoff, "error", err)
		select {
		case <-ctx.Done():
			s.p.log.Error("giving up on sink write at shutdown; batch stays unacknowledged", "sink", s.spec.Name, "events", len(events))
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
