package alarm

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// running is an engine whose Run goroutine emits into a channel.
type running struct {
	e      *Engine
	events chan stream.Event
	stop   func()
}

func start(t *testing.T, e *Engine) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{e: e, events: make(chan stream.Event, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(_ context.Context, b stream.Batch) error {
			for _, ev := range b.Events {
				r.events <- ev
			}
			return nil
		})
	}()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

// next waits for the next alarm change event; the timeout only guards against a hung test.
func (r *running) next(t *testing.T) stream.Event {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no alarm change event within 10 s")
		return stream.Event{}
	}
}

// none checks that no change event is pending once the engine has handled everything queued.
func (r *running) none(t *testing.T) {
	t.Helper()
	flushed := make(chan struct{})
	r.e.in <- transition{op: "flush", flushed: flushed} // handled in order after everything queued before it
	<-flushed
	select {
	case ev := <-r.events:
		t.Fatalf("unexpected change event: %v", ev.Attrs)
	default:
	}
}

func process(t *testing.T, e *Engine, ev stream.Event) {
	t.Helper()
	if err := e.Process(context.Background(), &ev); err != nil {
		t.Fatal(err)
	}
}

var salinityRule = Rule{ID: "sal", Name: "Xâm nhập mặn / salinity intrusion", Severity: SeverityMajor,
	When: Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4, Clear: f64(3.5)}}, EscalateAfter: Duration(15 * time.Minute)}

func TestEngineLifecycleAndRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		clock := &fakeClock{t: t0}
		e1 := newEngine(t, testConfig(salinityRule), open(t), clock)
		r1 := start(t, e1)
		ev := tele("sal-1", "salinity", 0, "salinity", 4.8)
		ev.Location, ev.HasLocation = [2]float64{106.37, 10.24}, true
		process(t, e1, ev)
		raised := r1.next(t)
		if raised.Type != stream.TypeAlarm || raised.Kind != "alarm" || raised.Attrs["state"] != StateActiveUnack ||
			raised.Attrs["rule"] != "sal" || raised.Attrs["source"] != "sal-1" || raised.Attrs["severity"] != SeverityMajor ||
			raised.Values["salinity"] != 4.8 || !raised.HasLocation || raised.Areas["district"] != "829" {
			t.Fatalf("raise event: %+v", raised)
		}
		r1.stop()

		// Restart: a new engine over the reopened store knows the alarm is open and its escalation pending.
		e2 := newEngine(t, testConfig(salinityRule), open(t), clock)
		r2 := start(t, e2)
		process(t, e2, tele("sal-1", "salinity", time.Minute, "salinity", 5))
		r2.none(t)
		clock.Set(t0.Add(15 * time.Minute))
		e2.Tick(context.Background())
		esc := r2.next(t)
		if esc.Entity != raised.Entity || esc.Attrs["action"] != ActionEscalate || esc.Attrs["severity"] != SeverityCritical {
			t.Fatalf("escalation event: %v", esc.Attrs)
		}
		e2.Tick(context.Background())
		r2.none(t) // escalates once

		process(t, e2, tele("sal-1", "salinity", 20*time.Minute, "salinity", 3.5))
		cl := r2.next(t)
		if cl.Entity != raised.Entity || cl.Attrs["state"] != StateClearedUnack {
			t.Fatalf("clear event: %v", cl.Attrs)
		}
		a, hist, err := e2.Get(context.Background(), raised.Entity)
		if err != nil || a.State != StateClearedUnack || len(hist) != 3 {
			t.Fatalf("alarm after clear: %+v history %d err %v", a, len(hist), err)
		}
		if _, err := e2.Ack(context.Background(), a.ID, "lan", "đã kiểm tra"); err != nil {
			t.Fatal(err)
		}
		if ack := r2.next(t); ack.Attrs["state"] != StateClearedAck || ack.Attrs["action"] != ActionAck {
			t.Fatalf("ack event: %v", ack.Attrs)
		}
	})
}

// TestEngineOneAlarmUnderConcurrency fires the same condition from many goroutines at once into one
// engine, and (for both stores) from two engines sharing the database: exactly one open alarm and one
// raise event.
func TestEngineOneAlarmUnderConcurrency(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		clock := &fakeClock{t: t0}
		engines := []*running{
			start(t, newEngine(t, testConfig(salinityRule), open(t), clock)),
			start(t, newEngine(t, testConfig(salinityRule), open(t), clock)),
		}
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for i := range 32 {
			wg.Go(func() {
				<-begin
				ev := tele("sal-1", "salinity", time.Duration(i)*time.Second, "salinity", 6)
				engines[i%2].e.Process(context.Background(), &ev)
			})
		}
		close(begin)
		wg.Wait()
		first := engines[0]
		select {
		case ev := <-engines[0].events:
			if ev.Attrs["action"] != ActionRaise {
				t.Fatalf("first event %v", ev.Attrs)
			}
		case ev := <-engines[1].events:
			first = engines[1]
			if ev.Attrs["action"] != ActionRaise {
				t.Fatalf("first event %v", ev.Attrs)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no raise event")
		}
		for _, r := range engines {
			r.none(t)
		}
		list, err := first.e.List(context.Background(), Filter{Source: "sal-1"})
		if err != nil || len(list) != 1 {
			t.Fatalf("%d alarms stored (err %v), want exactly 1", len(list), err)
		}
	})
}
