// Package mqtt is ioc's MQTT telemetry collector: a paho client that subscribes to configured topic
// filters on any MQTT 3.1.1 broker (the embedded one, Mosquitto, EMQX), decodes each payload by the
// format mapped to its topic and hands the readings to the pipeline.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/ratelog"
	"github.com/ioc-vn/ioc/stream"
)

// Ack modes.
const (
	AckAfterStore = "after_store" // acknowledge a QoS 1 message once its readings are stored
	AckOnReceive  = "on_receive"  // acknowledge as soon as the pipeline has taken it
)

// Config configures one MQTT collector. The app fills it from config.Collector.
type Config struct {
	Name     string
	Broker   string // tcp://host:port …
	ClientID string
	Username string
	Password string
	// TLS toward ssl://, tls:// and mqtts:// brokers: CAFile trusts extra CAs (PEM; empty: the system
	// pool), CertFile and KeyFile present a client certificate.
	CAFile, CertFile, KeyFile string
	QoS                       byte
	CleanSession              bool
	Ack                       string
	MaxPayload                int
	KeepAlive                 time.Duration
	Topics                    []Topic
	// ReadyGrace is how long the collector may be disconnected, after it received, before Check fails
	// (0: DefaultReadyGrace). Before its first subscription Check fails at once.
	ReadyGrace time.Duration
	// Drain is how long Run waits at its end for the batches it handed to the pipeline to be stored,
	// so their acknowledgements go out before it disconnects (0: it does not wait).
	Drain time.Duration
}

// Topic maps a topic filter to a payload format.
type Topic struct {
	Filter string
	Format string
}

// Collector subscribes to MQTT topics and emits decoded readings.
//
// The paho message handler never blocks for long: it decodes and hands the batch to the pipeline, whose
// inbound queue is sized above the broker's inflight window. With Ack after_store the PUBACK is sent from
// the batch's Done, after the readings are stored, so a crash never loses an acknowledged message and the
// broker redelivers what was not acknowledged (stores are idempotent).
//
// Readings without a time of their own get a stamp unique and increasing per entity (stamper); a
// redelivered message gets the stamps its first copy got (inflight), so it is stored once.
//
// The collector never gives up on its broker: a failed connection or subscription is retried with
// backoff for as long as Run runs, logged with its cause and counted; Check reports the state for
// /readyz.
type Collector struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	routes []route
	rl     *ratelog.Limiter
	tls    *tls.Config // nil: plain TCP or the system's defaults
	stamps *stamper
	sent   *inflight
	h      *health
	// this collector's per-message counters, looked up once
	received, receivedBytes prometheus.Counter
	// NewClient builds the paho client; tests may swap it.
	NewClient func(*paho.ClientOptions) paho.Client
	// now is the receive clock; tests may swap it.
	now func() time.Time

	pending  batches
	stopping atomic.Bool // Run's context ended: no new message is handed to the pipeline
}

var (
	_ stream.Collector = (*Collector)(nil)
	_ stream.Checker   = (*Collector)(nil)
)

type route struct {
	filter []string
	format string
	decode Decoder
}

// Connection events, the bounded "event" label of ioc_collector_connections_total.
const (
	eventConnected       = "connected"
	eventLost            = "lost"
	eventConnectFailed   = "connect_failed"
	eventSubscribed      = "subscribed"
	eventSubscribeFailed = "subscribe_failed"
)

// Metrics are the counters shared by every MQTT collector, labelled by collector name.
type Metrics struct {
	messages  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	conns     *prometheus.CounterVec
	receiving *prometheus.GaugeVec
}

// NewMetrics builds the collector metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_messages_total", Help: "Messages received by a collector."}, []string{"collector"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_decode_errors_total", Help: "Messages or entries a collector rejected, by reason."}, []string{"collector", "reason"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_received_bytes_total", Help: "Payload bytes received by a collector."}, []string{"collector"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_connections_total",
			Help: "Connection events of a collector (connected, lost, connect_failed, subscribed, subscribe_failed)."}, []string{"collector", "event"}),
		receiving: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ioc_collector_receiving",
			Help: "1 while a collector is connected and its broker holds its subscriptions, else 0."}, []string{"collector"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.errors, m.bytes, m.conns, m.receiving)
	}
	return m
}

// New builds a collector. Collectors share one Metrics.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Collector, error) {
	if cfg.Ack != AckAfterStore && cfg.Ack != AckOnReceive {
		return nil, fmt.Errorf("mqtt collector %s: ack must be %q or %q", cfg.Name, AckAfterStore, AckOnReceive)
	}
	c := &Collector{cfg: cfg, log: log.With("component", "collector", "collector", cfg.Name), m: m,
		rl: ratelog.New(10 * time.Second), NewClient: paho.NewClient, now: time.Now,
		stamps: newStamper(), sent: newInflight()}
	c.h = newHealth(cfg.ReadyGrace, func() time.Time { return c.now() })
	c.received, c.receivedBytes = m.messages.WithLabelValues(cfg.Name), m.bytes.WithLabelValues(cfg.Name)
	var err error
	if c.tls, err = tlsConfig(cfg); err != nil {
		return nil, fmt.Errorf("mqtt collector %s: %w", cfg.Name, err)
	}
	for _, t := range cfg.Topics {
		d, ok := DecoderFor(t.Format)
		if !ok {
			return nil, fmt.Errorf("mqtt collector %s: unknown format %q", cfg.Name, t.Format)
		}
		c.routes = append(c.routes, route{filter: strings.Split(TopicOf(t.Filter), "/"), format: t.Format, decode: d})
	}
	return c, nil
}

// Run connects, subscribes and emits until ctx ends. It keeps reconnecting (paho's automatic
// reconnection, backing off to 10 s) and resubscribing (subscribe, backing off to 30 s) as long as ctx
// lasts. When ctx ends it stops handing messages to the pipeline, waits up to Config.Drain for the
// batches already handed over to be stored, so their PUBACKs still go out on this connection, and
// disconnects.
func (c *Collector) Run(ctx context.Context, emit stream.Emit) error {
	opts := paho.NewClientOptions().
		AddBroker(c.cfg.Broker).
		SetClientID(c.cfg.ClientID).
		SetUsername(c.cfg.Username).
		SetPassword(c.cfg.Password).
		SetCleanSession(c.cfg.CleanSession).
		SetKeepAlive(c.cfg.KeepAlive).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetAutoAckDisabled(c.cfg.Ack == AckAfterStore)
	if c.tls != nil {
		opts.SetTLSConfig(c.tls)
	}
	if dialScheme(c.cfg.Broker) {
		opts.SetCustomOpenConnectionFn(c.dial)
	}
	filters := map[string]byte{}
	for _, t := range c.cfg.Topics {
		filters[t.Filter] = c.cfg.QoS
	}
	handler := func(_ paho.Client, msg paho.Message) { c.handle(ctx, emit, msg) }
	opts.SetDefaultPublishHandler(handler)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		// paho runs this in a goroutine of its own, so waiting here for the SUBACK holds up nothing.
		gen, session, held := c.h.up(!c.cfg.CleanSession)
		c.m.conns.WithLabelValues(c.cfg.Name, eventConnected).Inc()
		c.log.Info("connected", "broker", c.cfg.Broker, "session_present", session)
		c.gauge()
		if held {
			// The broker kept the session this run subscribed: it holds the subscriptions, and
			// subscribing again would only make it resend its retained messages.
			c.h.suback(gen)
			return
		}
		c.subscribe(ctx, cl, gen, filters, handler)
	})
	// paho calls the lost handler in a goroutine that may run after the next connection is up, so the
	// state changes in the reconnecting handler, which runs before every reconnection attempt; the lost
	// handler only gives the cause.
	opts.SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
		c.h.down(nil)
		c.gauge()
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.h.fail(err)
		c.m.conns.WithLabelValues(c.cfg.Name, eventLost).Inc()
		c.log.Warn("connection lost; reconnecting", "broker", c.cfg.Broker, "error", err)
	})
	opts.SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
		if f, ok := n.(paho.ConnectionNotificationFailed); ok {
			err := fmt.Errorf("connect %s: %w", c.cfg.Broker, f.Reason)
			c.h.fail(err)
			c.m.conns.WithLabelValues(c.cfg.Name, eventConnectFailed).Inc()
			if c.rl.Allow(eventConnectFailed) {
				c.log.Error("cannot connect to the broker; retrying", "broker", c.cfg.Broker, "error", f.Reason)
			}
		}
	})
	client := c.NewClient(opts)
	tok := client.Connect() // with ConnectRetry the token completes once connected, retrying meanwhile
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt collector %s: connect %s: %w", c.cfg.Name, c.cfg.Broker, err)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	c.stopping.Store(true)
	c.drain()
	client.Disconnect(250)
	c.h.down(errors.New("stopped"))
	c.gauge()
	return nil
}

// drain waits up to Config.Drain for the batches handed to the pipeline to be done.
func (c *Collector) drain() {
	t := time.NewTimer(c.cfg.Drain)
	defer t.Stop()
	select {
	case <-c.pending.idle():
	case <-t.C:
		c.log.Warn("stopping with batches not yet stored; the broker redelivers them", "waited", c.cfg.Drain)
	}
}

// batches counts the batches handed to the pipeline and not yet done.
type batches struct {
	mu      sync.Mutex
	n       int
	stopped bool          // no batch may be added any more
	wait    chan struct{} // closed when n drops to zero; nil when nobody waits
}

// add counts a batch about to be handed over; false once idle was called (stopping): the message is
// then left unacknowledged for the broker to redeliver to the next run.
func (b *batches) add() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.n++
	return true
}

func (b *batches) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n--
	if b.n == 0 && b.wait != nil {
		close(b.wait)
		b.wait = nil
	}
}

// idle stops adding and returns a channel closed once no batch is pending.
func (b *batches) idle() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	ch := make(chan struct{})
	if b.n == 0 {
		close(ch)
		return ch
	}
	if b.wait == nil {
		b.wait = ch
	}
	return b.wait
}

// subscribeBackoff bounds the wait between subscribe attempts on one connection.
const subscribeBackoff = 30 * time.Second

// subscribe subscribes connection gen to every filter, retrying with backoff while that connection is
// up. A late SUBACK is waited for, never treated as a failure: behind a broker's backlog flood it can
// take minutes, and the durable session holds the subscriptions meanwhile.
func (c *Collector) subscribe(ctx context.Context, cl paho.Client, gen uint64, filters map[string]byte, handler paho.MessageHandler) {
	backoff := time.Second
	for {
		err := c.subscribeOnce(ctx, cl, filters, handler)
		if err == nil {
			c.h.suback(gen)
			c.gauge()
			c.m.conns.WithLabelValues(c.cfg.Name, eventSubscribed).Inc()
			c.log.Info("subscribed", "filters", len(filters))
			return
		}
		if ctx.Err() != nil || !c.h.current(gen) {
			return // the connection ended; the next one subscribes again
		}
		c.h.fail(err)
		c.m.conns.WithLabelValues(c.cfg.Name, eventSubscribeFailed).Inc()
		c.log.Error("subscribe failed; retrying", "retry_in", backoff, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, subscribeBackoff)
	}
}

// subscribeOnce sends one SUBSCRIBE and waits for its SUBACK (or the end of ctx or the connection).
func (c *Collector) subscribeOnce(ctx context.Context, cl paho.Client, filters map[string]byte, handler paho.MessageHandler) error {
	tok := cl.SubscribeMultiple(filters, handler)
	late := time.NewTimer(subscribeBackoff)
	defer late.Stop()
	for acked := false; !acked; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("subscribe: %w", ctx.Err())
		case <-late.C:
			c.log.Warn("no SUBACK yet; still waiting (the broker may be sending a backlog first)", "waited", subscribeBackoff)
		case <-tok.Done():
			acked = true
		}
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		var refused []error
		for f, code := range st.Result() {
			if code > 2 {
				refused = append(refused, fmt.Errorf("broker refused %q (return code %#x)", f, code))
			}
		}
		if len(refused) > 0 {
			return fmt.Errorf("subscribe: %w", errors.Join(refused...))
		}
	}
	return nil
}

// gauge publishes whether the collector receives.
func (c *Collector) gauge() {
	v := 0.0
	if c.h.check() == nil {
		v = 1
	}
	c.m.receiving.WithLabelValues(c.cfg.Name).Set(v)
}

// handle decodes one message and hands it to the pipeline.
func (c *Collector) handle(ctx context.Context, emit stream.Emit, msg paho.Message) {
	if c.stopping.Load() {
		return // stopping: unacknowledged, so the broker redelivers it to the next run
	}
	now := c.now()
	c.received.Inc()
	payload := msg.Payload()
	c.receivedBytes.Add(float64(len(payload)))
	ack := func() {
		if c.cfg.Ack == AckAfterStore {
			msg.Ack()
		}
	}
	if len(payload) > c.cfg.MaxPayload {
		c.reject(msg.Topic(), stream.Reject(stream.ReasonTooLarge, "payload of %d bytes is over the %d-byte limit", len(payload), c.cfg.MaxPayload))
		ack()
		return
	}
	r, device, ok := c.match(msg.Topic())
	if !ok {
		c.reject(msg.Topic(), stream.Reject(stream.ReasonUnknownTopic, "no format configured for this topic"))
		ack()
		return
	}
	events, errs := r.decode(device, payload, now)
	for _, err := range errs {
		c.reject(msg.Topic(), err)
	}
	if len(events) == 0 {
		ack()
		return
	}
	c.stamp(msg, events, now)
	for i := range events {
		events[i].Source = c.cfg.Name
	}
	if !c.pending.add() {
		return // stopping (see Run): unacknowledged, so the broker redelivers it to the next run
	}
	done := func() {
		ack()
		c.pending.done()
	}
	if err := emit(ctx, stream.Batch{Events: events, Done: done}); err != nil && !errors.Is(err, stream.ErrDropped) {
		// Not taken (shutting down): leave it unacknowledged so the broker redelivers it.
		c.pending.done()
		c.log.Debug("message not taken by the pipeline", "topic", msg.Topic(), "error", err)
	}
}

// stamp gives the events without a time (Time zero) their stamps: those of the message's first copy
// when msg is a redelivery of a remembered message, else new ones. With Ack after_store and QoS 1 or 2
// it remembers them by packet id (inflight).
func (c *Collector) stamp(msg paho.Message, events []stream.Event, now time.Time) {
	track := c.cfg.Ack == AckAfterStore && msg.Qos() > 0
	n := 0
	for i := range events {
		if events[i].Time.IsZero() {
			n++
		}
	}
	if n == 0 {
		if track && !msg.Duplicate() {
			c.sent.forget(msg.MessageID())
		}
		return
	}
	var sum uint64
	var stamps []time.Time
	if track {
		sum = c.sent.sum(msg.Topic(), msg.Payload())
		if msg.Duplicate() {
			stamps, _ = c.sent.redelivered(msg.MessageID(), sum, n)
		}
	}
	fresh := stamps == nil
	if fresh {
		stamps = make([]time.Time, 0, n)
	}
	k := 0
	for i := range events {
		if !events[i].Time.IsZero() {
			continue
		}
		if fresh {
			stamps = append(stamps, c.stamps.stamp(events[i].Entity, now))
		}
		events[i].Time = stamps[k]
		k++
	}
	if track && fresh {
		c.sent.remember(msg.MessageID(), sum, stamps)
	}
}

func (c *Collector) reject(topic string, err error) {
	reason := stream.ReasonOf(err)
	c.m.errors.WithLabelValues(c.cfg.Name, reason).Inc()
	if c.rl.Allow(reason) {
		c.log.Warn("rejected input", "topic", topic, "reason", reason, "error", err)
	}
}

// match finds the route of a topic and the part its first wildcard matched (the device id).
func (c *Collector) match(topic string) (route, string, bool) {
	for _, r := range c.routes {
		if dev, ok := matchFilter(r.filter, topic); ok {
			return r, dev, true
		}
	}
	return route{}, "", false
}

// TopicOf strips an MQTT 5 / Mosquitto shared-subscription prefix ($share/<group>/) from a filter: the
// broker delivers each message of a shared subscription to one member of the group, and the topics
// it delivers match the rest of the filter.
func TopicOf(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	return filter
}

// matchFilter matches a topic against a filter's levels; the first + or # supplies the device. It
// walks the topic's levels in place (a split per message was a quarter of the handler's allocations).
func matchFilter(filter []string, topic string) (string, bool) {
	device := ""
	rest, more := topic, true // the levels not matched yet; more: at least one level is left
	for _, f := range filter {
		if f == "#" {
			if device == "" && more {
				device = rest
			}
			return device, true
		}
		if !more {
			return "", false
		}
		level, after, found := strings.Cut(rest, "/")
		rest, more = after, found
		switch {
		case f == "+":
			if device == "" {
				device = level
			}
		case f != level:
			return "", false
		}
	}
	return device, !more
}

// tlsConfig builds the TLS settings from the CA and client certificate files; nil when none is set.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.CAFile == "" && cfg.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", cfg.CAFile)
		}
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
