package mqtt_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/ioc-vn/ioc/internal/waittest"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/collectors/mqtt"
	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/store/influx"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
	"github.com/ioc-vn/ioc/internal/store/sqlite"
	"github.com/ioc-vn/ioc/stream"
)

// rig is one MQTT collector feeding a pipeline whose durable sink is a SQLite store, as in ioc.
type rig struct {
	col *mqtt.Collector
	st  *sqlite.Store
	db  *sql.DB // read-only view of the store's file
}

// startRig runs a collector of ioc/devices/+/telemetry (ThingsBoard, QoS 1, durable session, ack
// after_store) toward broker until the test ends. wrap, when not nil, wraps the store as the sink;
// batch is the sink batch size.
func startRig(t *testing.T, broker, clientID string, batch int, wrap func(stream.Sink) stream.Sink) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "ioc.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var sink stream.Sink = st
	if wrap != nil {
		sink = wrap(st)
	}
	reg := prometheus.NewRegistry()
	pl, err := stream.NewPipeline(stream.PipelineConfig{QueueSize: 8192, OnFull: stream.OnFullBlock, MaxFuture: time.Hour,
		SinkQueueSize: 8192, SinkBatch: batch, FlushInterval: 20 * time.Millisecond}, log, reg, nil,
		[]stream.SinkSpec{{Name: "store", Sink: sink, Durable: true}})
	if err != nil {
		t.Fatal(err)
	}
	m := mqtt.NewMetrics(reg)
	col, err := mqtt.New(mqtt.Config{Name: "telemetry", Broker: broker, ClientID: clientID, QoS: 1, Ack: mqtt.AckAfterStore,
		MaxPayload: 64 << 10, KeepAlive: 30 * time.Second, Drain: 10 * time.Second,
		Topics: []mqtt.Topic{{Filter: "ioc/devices/+/telemetry", Format: mqtt.FormatThingsBoard}}}, log, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	plDone, colDone := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(plDone)
		_ = pl.Run(context.Background())
	}()
	go func() { colDone <- col.Run(ctx, pl.Emit) }()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-colDone; err != nil {
			t.Errorf("collector: %v", err)
		}
		pl.Close()
		<-plDone
		db.Close()
		st.Close()
	})
	return &rig{col: col, st: st, db: db}
}

// waitReceiving waits until the collector says it receives (subscribed or session present).
func (r *rig) waitReceiving(t *testing.T) {
	t.Helper()
	waitUntil(t, 30*time.Second, "collector receiving", func() bool { return r.col.Check(context.Background()) == nil })
}

func (r *rig) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	waittest.For(t, limit, what, ok)
}

// publishAll publishes every message at QoS 1 without waiting in between (the broker takes them as
// fast as it can) and waits for every PUBACK.
func publishAll(t *testing.T, url, id string, msgs [][2]string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetWriteTimeout(30 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect %s: %v", url, tok.Error())
	}
	defer c.Disconnect(100)
	toks := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		toks[i] = c.Publish(m[0], 1, false, m[1])
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d (%s): %v", i, msgs[i][0], tok.Error())
		}
	}
}

// timelessMessages are 20 devices × 1,000 readings without "ts" ({"level": i}, i counting all
// messages) and an array of three readings without "ts" for device arr-1.
func timelessMessages() (msgs [][2]string, levels int) {
	const devices, per = 20, 1000
	for i := range devices * per {
		msgs = append(msgs, [2]string{fmt.Sprintf("ioc/devices/tl-%02d/telemetry", i%devices), fmt.Sprintf(`{"level":%d}`, i)})
	}
	return append(msgs, [2]string{"ioc/devices/arr-1/telemetry", `[{"seq":1},{"seq":2},{"seq":3}]`}), devices * per
}

// TestTimelessReadingsEachStored: 20 devices × 1,000 readings without "ts" at full speed, and an array
// of readings without "ts", through Mosquitto: every one is its own row (before, the ones received in
// one millisecond shared a key and all but one were lost), each device's in the order sent.
func TestTimelessReadingsEachStored(t *testing.T) {
	mq := mqtttest.StartMosquitto(t)
	r := startRig(t, mq.URL, "ioc-timeless", 2000, nil)
	r.waitReceiving(t)
	msgs, levels := timelessMessages()
	publishAll(t, mq.URL, "timeless-publisher", msgs)
	total := levels + 3
	waitUntil(t, 60*time.Second, "every reading stored", func() bool { return r.count(t, `SELECT count(*) FROM readings`) >= total })
	if n := r.count(t, `SELECT count(*) FROM readings`); n != total {
		t.Fatalf("%d readings stored, want %d", n, total)
	}
	if n := r.count(t, `SELECT count(DISTINCT value) FROM readings WHERE field = 'level'`); n != levels {
		t.Fatalf("%d distinct levels, want %d", n, levels)
	}
	if n := r.count(t, `SELECT count(*) FROM readings WHERE entity = 'arr-1' AND field = 'seq'`); n != 3 {
		t.Fatalf("array of 3 stored as %d readings", n)
	}
	// Per device, the stamps increase with the order sent: no reading is out of place.
	if n := r.count(t, `SELECT count(*) FROM (SELECT entity, value, lag(value) OVER (PARTITION BY entity, field ORDER BY ts) AS prev
		FROM readings) WHERE prev >= value`); n != 0 {
		t.Fatalf("%d readings stamped before an earlier one of their device", n)
	}
}

// TestTimelessReadingsEachStoredInInflux is TestTimelessReadingsEachStored with InfluxDB 1.8 as the
// durable sink: every reading is its own point.
func TestTimelessReadingsEachStoredInInflux(t *testing.T) {
	srv := influxtest.Start(t)
	cfg := influx.Defaults()
	cfg.URL, cfg.Bucket, cfg.Spool.Dir = srv.URL, srv.Bucket(), t.TempDir()
	st, err := influx.Open(cfg, influx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mq := mqtttest.StartMosquitto(t)
	r := startRig(t, mq.URL, "ioc-timeless-influx", cfg.BatchSize, func(stream.Sink) stream.Sink { return st })
	r.waitReceiving(t)
	msgs, levels := timelessMessages()
	publishAll(t, mq.URL, "timeless-publisher", msgs)
	count := func(field string) int {
		body, err := srv.Select(fmt.Sprintf(`SELECT count(%q) FROM %q`, field, influx.MeasurementTelemetry))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Results []struct {
				Series []struct {
					Values [][]float64 `json:"values"`
				} `json:"series"`
			} `json:"results"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("count %s: %v in %s", field, err, body)
		}
		if len(res.Results) == 0 || len(res.Results[0].Series) == 0 || len(res.Results[0].Series[0].Values) == 0 {
			return 0
		}
		return int(res.Results[0].Series[0].Values[0][1])
	}
	waitUntil(t, 60*time.Second, "every reading stored", func() bool { return count("level") >= levels })
	if n, s := count("level"), count("seq"); n != levels || s != 3 {
		t.Fatalf("%d level points, %d seq points; want %d and 3", n, s, levels)
	}
}

// cutAfterFirstWrite stores the first batch, then cuts the collector's connection and waits until the
// collector has seen it before returning, so the batch's PUBACKs go nowhere and the broker redelivers
// messages whose readings are stored already.
// It counts the events it wrote.
type cutAfterFirstWrite struct {
	stream.Sink
	cut     func()
	seen    func() bool
	done    atomic.Bool // the cut happened
	written atomic.Int64
}

func (c *cutAfterFirstWrite) Write(ctx context.Context, events []stream.Event) error {
	if err := c.Sink.Write(ctx, events); err != nil {
		return err
	}
	c.written.Add(int64(len(events)))
	if !c.done.Load() {
		c.cut()
		for deadline := time.Now().Add(10 * time.Second); !c.seen() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		c.done.Store(true)
	}
	return nil
}

// TestRedeliveredTimelessStoredOnce: readings without "ts" stored, their PUBACKs lost with the
// connection, redelivered by the broker on the next one: each is stored once, at its first stamp.
func TestRedeliveredTimelessStoredOnce(t *testing.T) {
	mq := mqtttest.StartMosquitto(t)
	px := mqtttest.StartProxy(t, mq.Addr)
	var col atomic.Pointer[mqtt.Collector]
	sink := &cutAfterFirstWrite{cut: px.Cut, seen: func() bool { return col.Load().Check(context.Background()) != nil }}
	r := startRig(t, px.URL, "ioc-redelivery", 2000, func(s stream.Sink) stream.Sink {
		sink.Sink = s
		return sink
	})
	col.Store(r.col)
	r.waitReceiving(t)
	const n = 200
	var msgs [][2]string
	for i := range n {
		msgs = append(msgs, [2]string{"ioc/devices/rd-1/telemetry", fmt.Sprintf(`{"level":%d}`, i)})
	}
	publishAll(t, mq.URL, "redelivery-publisher", msgs)
	waitUntil(t, 30*time.Second, "connection cut after the first write", sink.done.Load)
	r.waitReceiving(t) // reconnected through the proxy
	// A reading with its own time sent after the reconnection is stored after the redeliveries.
	publishAll(t, mq.URL, "redelivery-publisher", [][2]string{{"ioc/devices/rd-marker/telemetry", `{"ts":1773536400000,"values":{"end":1}}`}})
	waitUntil(t, 30*time.Second, "marker stored", func() bool { return r.count(t, `SELECT count(*) FROM readings WHERE entity = 'rd-marker'`) == 1 })
	received := sink.written.Load()
	if received <= n+1 {
		t.Fatalf("%d readings written for %d published: nothing was redelivered, the test proves nothing", received, n+1)
	}
	if got := r.count(t, `SELECT count(*) FROM readings WHERE entity = 'rd-1'`); got != n {
		t.Fatalf("%d readings stored for %d published (%v received with redeliveries)", got, n, received)
	}
	if got := r.count(t, `SELECT count(DISTINCT value) FROM readings WHERE entity = 'rd-1'`); got != n {
		t.Fatalf("%d distinct readings, want %d", got, n)
	}
}

// throttled slows a sink to one write per tick: a consumer slower than the broker's flood, so the SUBACK
// queued behind the backlog arrives late.
type throttled struct {
	stream.Sink
	tick *time.Ticker
}

func (s *throttled) Write(ctx context.Context, events []stream.Event) error {
	select {
	case <-s.tick.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Sink.Write(ctx, events)
}

// TestBacklogFloodStoredOnce: 100,000 messages queued in ioc's durable session before it starts, a
// broker that sends them all at once (max_inflight_messages 0) and a consumer slowed to about 8,000
// a second, so the SUBACK arrives behind the whole backlog, well after the 10 s ioc once waited before
// it dropped the session and went deaf for good. Every message is stored exactly once and the
// collector ends subscribed.
func TestBacklogFloodStoredOnce(t *testing.T) {
	mq := mqtttest.StartMosquitto(t, "max_inflight_messages 0")
	const clientID, n, devices = "ioc-flood", 100_000, 100
	// ioc's durable session, with its subscription, as a previous run left it.
	s := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID(clientID).SetCleanSession(false))
	if tok := s.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	if tok := s.Subscribe("ioc/devices/+/telemetry", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	s.Disconnect(100)
	base := time.Now().Add(-time.Hour).UnixMilli()
	msgs := make([][2]string, n)
	for i := range msgs {
		msgs[i] = [2]string{fmt.Sprintf("ioc/devices/fl-%03d/telemetry", i%devices), fmt.Sprintf(`{"ts":%d,"values":{"level":%d}}`, base+int64(i), i)}
	}
	publishAll(t, mq.URL, "flood-publisher", msgs)

	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	r := startRig(t, mq.URL, clientID, 200, func(s stream.Sink) stream.Sink { return &throttled{Sink: s, tick: tick} })
	var stored int
	for deadline := time.Now().Add(3 * time.Minute); stored < n; time.Sleep(100 * time.Millisecond) {
		if stored = r.count(t, `SELECT count(*) FROM readings`); time.Now().After(deadline) {
			t.Fatalf("%d of %d queued messages stored within 3 min", stored, n)
		}
	}
	if got := r.count(t, `SELECT count(DISTINCT value) FROM readings`); stored != n || got != n {
		t.Fatalf("%d readings, %d distinct, want %d each", stored, got, n)
	}
	r.waitReceiving(t)
}
