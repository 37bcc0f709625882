package mqtt

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/stream"
)

// fakeMessage is a paho.Message for unit tests of the handler.
type fakeMessage struct {
	topic   string
	payload []byte
	id      uint16
	dup     bool
	acked   int
}

func (m *fakeMessage) Duplicate() bool   { return m.dup }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return m.id }
func (m *fakeMessage) Payload() []byte   { return m.payload }
func (m *fakeMessage) Ack()              { m.acked++ }

func TestHandleAcksOnlyWhenDone(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	c, err := New(Config{Name: "t", Ack: AckAfterStore, MaxPayload: 100,
		Topics: []Topic{{Filter: "ioc/devices/+/telemetry", Format: FormatThingsBoard}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	var batches []stream.Batch
	emit := func(_ context.Context, b stream.Batch) error { batches = append(batches, b); return nil }
	tests := []struct {
		name, topic, payload string
		reason               string // counted rejection, "" for accepted
		ackedAtOnce          bool
	}{
		{"accepted waits for Done", "ioc/devices/a/telemetry", `{"v":1}`, "", false},
		{"unknown topic", "other/a", `{"v":1}`, stream.ReasonUnknownTopic, true},
		{"too large", "ioc/devices/a/telemetry", `{"v":"` + string(make([]byte, 200)) + `"}`, stream.ReasonTooLarge, true},
		{"malformed", "ioc/devices/a/telemetry", `{`, stream.ReasonMalformed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches = nil
			msg := &fakeMessage{topic: tt.topic, payload: []byte(tt.payload)}
			before := 0.0
			if tt.reason != "" {
				before = testutil.ToFloat64(m.errors.WithLabelValues("t", tt.reason))
			}
			c.handle(context.Background(), emit, msg)
			if got := msg.acked == 1; got != tt.ackedAtOnce {
				t.Fatalf("acked at once = %v, want %v", got, tt.ackedAtOnce)
			}
			if tt.reason != "" {
				if got := testutil.ToFloat64(m.errors.WithLabelValues("t", tt.reason)) - before; got != 1 {
					t.Fatalf("%s counted %v times, want 1", tt.reason, got)
				}
				return
			}
			if len(batches) != 1 || batches[0].Events[0].Source != "t" {
				t.Fatalf("batches = %+v", batches)
			}
			batches[0].Done()
			if msg.acked != 1 {
				t.Fatalf("Done did not acknowledge the message")
			}
		})
	}
}

func TestStamperUniqueAndIncreasing(t *testing.T) {
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		entity []string
		at     []time.Duration // receive times after t0
		want   []time.Duration // stamps after t0
	}{
		{"same millisecond", []string{"a", "a", "a"}, []time.Duration{0, 100 * time.Microsecond, 900 * time.Microsecond},
			[]time.Duration{0, time.Millisecond, 2 * time.Millisecond}},
		{"clock moves on", []string{"a", "a"}, []time.Duration{0, 5 * time.Millisecond}, []time.Duration{0, 5 * time.Millisecond}},
		{"clock steps back", []string{"a", "a"}, []time.Duration{time.Second, 0}, []time.Duration{time.Second, time.Second + time.Millisecond}},
		{"entities apart", []string{"a", "b", "a"}, []time.Duration{0, 0, 0}, []time.Duration{0, 0, time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStamper()
			for i := range tt.at {
				if got := s.stamp(tt.entity[i], t0.Add(tt.at[i])); !got.Equal(t0.Add(tt.want[i])) {
					t.Errorf("stamp %d = %s, want %s", i, got.Format(time.RFC3339Nano), t0.Add(tt.want[i]).Format(time.RFC3339Nano))
				}
			}
		})
	}
}

// TestHandleStampsTimelessReadings: every element of an array without "ts" gets its own stamp, and a
// redelivered copy (DUP, same packet id and payload) gets the stamps of the first copy.
func TestHandleStampsTimelessReadings(t *testing.T) {
	c, err := New(Config{Name: "t", Ack: AckAfterStore, MaxPayload: 1000,
		Topics: []Topic{{Filter: "ioc/devices/+/telemetry", Format: FormatThingsBoard}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	clock := t0
	c.now = func() time.Time { return clock }
	var got [][]time.Time
	emit := func(_ context.Context, b stream.Batch) error {
		var ts []time.Time
		for _, ev := range b.Events {
			ts = append(ts, ev.Time)
		}
		got = append(got, ts)
		return nil
	}
	const arr = `[{"seq":1},{"seq":2},{"ts":1773536400000,"values":{"seq":3}}]`
	topic := "ioc/devices/a/telemetry"
	c.handle(context.Background(), emit, &fakeMessage{topic: topic, payload: []byte(arr), id: 7})
	clock = t0.Add(time.Second)
	c.handle(context.Background(), emit, &fakeMessage{topic: topic, payload: []byte(arr), id: 7, dup: true})
	c.handle(context.Background(), emit, &fakeMessage{topic: topic, payload: []byte(arr), id: 8})
	want := [][]time.Time{
		{t0, t0.Add(time.Millisecond), time.UnixMilli(1773536400000).UTC()},                                // each element its own time
		{t0, t0.Add(time.Millisecond), time.UnixMilli(1773536400000).UTC()},                                // the redelivery: the same
		{t0.Add(time.Second), t0.Add(time.Second + time.Millisecond), time.UnixMilli(1773536400000).UTC()}, // a new message: new stamps
	}
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if !got[i][j].Equal(want[i][j]) {
				t.Errorf("batch %d event %d at %s, want %s", i, j, got[i][j].Format(time.RFC3339Nano), want[i][j].Format(time.RFC3339Nano))
			}
		}
	}
}

// BenchmarkHandleThingsBoard is the collector's per-message cost for a typical ThingsBoard payload
// with its own time and location: decode, stamp, hand to the pipeline (which takes it at once).
func BenchmarkHandleThingsBoard(b *testing.B) {
	c, err := New(Config{Name: "t", Ack: AckAfterStore, MaxPayload: 1000,
		Topics: []Topic{{Filter: "ioc/devices/+/telemetry", Format: FormatThingsBoard}}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		b.Fatal(err)
	}
	emit := func(_ context.Context, bt stream.Batch) error { bt.Done(); return nil }
	msgs := make([]*fakeMessage, 1000)
	for i := range msgs {
		msgs[i] = &fakeMessage{topic: "ioc/devices/sal-" + strconv.Itoa(i) + "/telemetry", id: uint16(i + 1),
			payload: []byte(`{"ts":17735364` + strconv.Itoa(10000+i) + `,"values":{"salinity":4.25,"temperature":28.1,"lat":10.2415,"lon":106.3752,"state":"ok"}}`)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c.handle(context.Background(), emit, msgs[i%len(msgs)])
	}
}

// TestHealthStates: not ready before the first subscription; ready once subscribed or when the broker
// kept the durable session; degraded within the grace after a loss, with its cause whichever of the
// two paho callbacks comes first; not ready after the grace.
func TestHealthStates(t *testing.T) {
	t0 := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)
	clock := t0
	h := newHealth(30*time.Second, func() time.Time { return clock })
	lost := errors.New("EOF")
	steps := []struct {
		name string
		do   func()
		want string // "ok", "degraded" or "not_ready"
		text string // in the error
	}{
		{"at start", func() {}, "not_ready", "not connected yet"},
		{"connected, no SUBACK", func() { h.up(true) }, "not_ready", "waiting for the SUBACK"},
		{"subscribed", func() { h.suback(1) }, "ok", ""},
		{"lost, cause first", func() { h.fail(lost); clock = clock.Add(10 * time.Second); h.down(nil) }, "degraded", "EOF"},
		{"after the grace", func() { clock = clock.Add(30 * time.Second) }, "not_ready", "EOF"},
		{"session present", func() { h.connack(true); h.up(true) }, "ok", ""},
		{"lost, cause later", func() { h.down(nil); h.fail(lost) }, "degraded", "EOF"},
		// paho may report a loss after the next connection is up: it changes nothing.
		{"late report of the old connection", func() { h.connack(true); h.up(true); h.fail(lost) }, "ok", ""},
	}
	for _, st := range steps {
		st.do()
		err := h.check()
		got := "ok"
		switch {
		case errors.Is(err, stream.ErrDegraded):
			got = "degraded"
		case err != nil:
			got = "not_ready"
		}
		if got != st.want || err != nil && !strings.Contains(err.Error(), st.text) {
			t.Errorf("%s: %s (%v), want %s with %q", st.name, got, err, st.want, st.text)
		}
	}
}
