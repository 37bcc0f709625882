package mqtt

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/stream"
)

// fakeMessage is a paho.Message for unit tests of the handler.
type fakeMessage struct {
	topic   string
	payload []byte
	acked   int
}

func (m *fakeMessage) Duplicate() bool   { return false }
func (m *fakeMessage) Qos() byte         { return 1 }
func (m *fakeMessage) Retained() bool    { return false }
func (m *fakeMessage) Topic() string     { return m.topic }
func (m *fakeMessage) MessageID() uint16 { return 1 }
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
