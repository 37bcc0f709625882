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
type Collector struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	routes []route
	rl     *ratelog.Limiter
	tls    *tls.Config // nil: plain TCP or the system's defaults
	// NewClient builds the paho client; tests may swap it.
	NewClient func(*paho.ClientOptions) paho.Client
}

var _ stream.Collector = (*Collector)(nil)

type route struct {
	filter []string
	format string
	decode Decoder
}

// Metrics are the counters shared by every MQTT collector, labelled by collector name.
type Metrics struct {
	messages *prometheus.CounterVec
	errors   *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	conns    *prometheus.CounterVec
}

// NewMetrics builds the collector metrics and registers them with reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_messages_total", Help: "Messages received by a collector."}, []string{"collector"}),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_decode_errors_total", Help: "Messages or entries a collector rejected, by reason."}, []string{"collector", "reason"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_received_bytes_total", Help: "Payload bytes received by a collector."}, []string{"collector"}),
		conns:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_collector_connections_total", Help: "Connection events of a collector (connected, lost)."}, []string{"collector", "event"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.errors, m.bytes, m.conns)
	}
	return m
}

// New builds a collector. Collectors share one Metrics.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Collector, error) {
	if cfg.Ack != AckAfterStore && cfg.Ack != AckOnReceive {
		return nil, fmt.Errorf("mqtt collector %s: ack must be %q or %q", cfg.Name, AckAfterStore, AckOnReceive)
	}
	c := &Collector{cfg: cfg, log: log.With("component", "collector", "collector", cfg.Name), m: m,
		rl: ratelog.New(10 * time.Second), NewClient: paho.NewClient}
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

// Run connects, subscribes and emits until ctx ends.
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
	filters := map[string]byte{}
	for _, t := range c.cfg.Topics {
		filters[t.Filter] = c.cfg.QoS
	}
	handler := func(_ paho.Client, msg paho.Message) { c.handle(ctx, emit, msg) }
	opts.SetDefaultPublishHandler(handler)
	opts.SetOnConnectHandler(func(cl paho.Client) {
		c.m.conns.WithLabelValues(c.cfg.Name, "connected").Inc()
		c.log.Info("connected", "broker", c.cfg.Broker)
		tok := cl.SubscribeMultiple(filters, handler)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			c.log.Error("subscribe failed; reconnecting", "error", tok.Error())
			cl.Disconnect(0)
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.m.conns.WithLabelValues(c.cfg.Name, "lost").Inc()
		c.log.Warn("connection lost; reconnecting", "error", err)
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
	client.Disconnect(250)
	return nil
}

// handle decodes one message and hands it to the pipeline.
func (c *Collector) handle(ctx context.Context, emit stream.Emit, msg paho.Message) {
	c.m.messages.WithLabelValues(c.cfg.Name).Inc()
	payload := msg.Payload()
	c.m.bytes.WithLabelValues(c.cfg.Name).Add(float64(len(payload)))
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
	events, errs := r.decode(device, payload, time.Now())
	for _, err := range errs {
		c.reject(msg.Topic(), err)
	}
	for i := range events {
		events[i].Source = c.cfg.Name
	}
	if len(events) == 0 {
		ack()
		return
	}
	if err := emit(ctx, stream.Batch{Events: events, Done: ack}); err != nil && !errors.Is(err, stream.ErrDropped) {
		// Not taken (shutting down): leave it unacknowledged so the broker redelivers it.
		c.log.Debug("message not taken by the pipeline", "topic", msg.Topic(), "error", err)
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
	levels := strings.Split(topic, "/")
	for _, r := range c.routes {
		if dev, ok := matchFilter(r.filter, levels); ok {
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

// matchFilter matches topic levels against a filter; the first + or # supplies the device.
func matchFilter(filter, levels []string) (string, bool) {
	device := ""
	for i, f := range filter {
		switch {
		case f == "#":
			if device == "" && i < len(levels) {
				device = strings.Join(levels[i:], "/")
			}
			return device, true
		case i >= len(levels):
			return "", false
		case f == "+":
			if device == "" {
				device = levels[i]
			}
		case f != levels[i]:
			return "", false
		}
	}
	return device, len(filter) == len(levels)
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
