// Package broker runs ioc's embedded MQTT broker (mochi-mqtt). Devices publish to it and ioc's own MQTT
// collector subscribes to it over TCP with paho, the same code path as with an external broker.
//
// mochi keeps its queues in memory and acknowledges a publish before routing it, so a crash would lose
// what a device was told was delivered. The broker instead acknowledges an inbound QoS 1 or 2 publish
// that ioc takes only once ioc's subscribers acknowledged it, which they do after the durable commit
// (see ackHook): a kill of ioc loses nothing a device holds an acknowledgement for.
//
// mochi drops QoS 1 messages for a subscriber whose unacknowledged window or write queue is full. ioc's
// collector acknowledges only after a message is stored, so under a burst its window fills. To lose
// nothing, the broker watches ioc's subscribers (by client ID prefix) and, while one has more than
// MaxInflight messages unacknowledged, holds each inbound publish before routing it: publishers are slowed
// by TCP backpressure instead of having their messages dropped.
package broker

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the embedded broker.
type Config struct {
	Listen      string        // host:port; port 0 picks a free one
	MaxInflight int           // unacknowledged messages toward a watched subscriber before publishers wait
	MaxWait     time.Duration // longest a publish is held before it is routed anyway
	// AckTimeout is how long a QoS 2 publish waits for ioc's subscribers before its publisher is
	// disconnected to send it again.
	AckTimeout time.Duration
	Watch      []string // client IDs of ioc's own subscribers; they acknowledge after storing
	// Username and Password, when set, are required from every client not connecting over loopback
	// (ioc's own collectors and the demo feed connect over loopback).
	Username, Password string
}

// Broker is a running embedded MQTT broker.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	srv    *mqtt.Server
	ln     net.Listener
	held   prometheus.Counter
	heldNs atomic.Int64
	// refused counts publishes left unacknowledged (publisher disconnected to resend them) because no
	// ioc subscriber could take them.
	refused  prometheus.Counter
	deferred prometheus.Histogram
	acks     *ackHook
}

// ErrAddrInUse is returned by New when the listen address is taken.
var ErrAddrInUse = errors.New("address already in use")

// New listens on cfg.Listen and prepares the broker; Run serves it.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Broker, error) {
	if cfg.MaxInflight <= 0 {
		return nil, fmt.Errorf("broker: max_inflight must be positive")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = time.Minute
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded MQTT broker: %s: %w (another broker may hold it; change broker.listen, env IOC_BROKER_LISTEN, or use port 0 for a free one)", cfg.Listen, ErrAddrInUse)
		}
		return nil, fmt.Errorf("embedded MQTT broker: listen %s: %w", cfg.Listen, err)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumInflight = uint16(min(2*cfg.MaxInflight, 65535))
	caps.MaximumClientWritesPending = int32(2 * cfg.MaxInflight)
	caps.ReceiveMaximum = uint16(min(2*cfg.MaxInflight, 65535))
	// mochi logs every client disconnect as a warning; keep only its errors.
	quiet := slog.New(minLevel{Handler: log.Handler(), min: slog.LevelError}).With("component", "broker")
	srv := mqtt.New(&mqtt.Options{Capabilities: caps, Logger: quiet, InlineClient: true})
	b := &Broker{cfg: cfg, log: log, srv: srv, ln: ln,
		held: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_broker_publishes_held_total",
			Help: "Inbound publishes held back because an ioc subscriber had a full window (backpressure instead of loss)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_broker_publishes_refused_total",
			Help: "Inbound QoS 1/2 publishes left unacknowledged, their publisher disconnected to send them again, because no ioc subscriber could take them."}),
		deferred: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_broker_ack_delay_seconds",
			Help:    "Time from an inbound QoS 1/2 publish to its acknowledgement, which waits until ioc stored it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)})}
	b.acks = newAckHook(b)
	if reg != nil {
		reg.MustRegister(b.held, b.refused, b.deferred,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ioc_broker_acks_pending",
				Help: "Inbound publishes whose acknowledgement waits for ioc to store them."}, func() float64 { return float64(b.acks.pending()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ioc_broker_held_seconds_total",
				Help: "Total time inbound publishes were held for backpressure."}, func() float64 { return float64(b.heldNs.Load()) / 1e9 }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ioc_broker_clients", Help: "Clients connected to the embedded broker."},
				func() float64 { return float64(srv.Clients.Len()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ioc_broker_messages_dropped_total",
				Help: "Messages the embedded broker dropped (full client queues or inflight windows)."},
				func() float64 {
					return float64(atomic.LoadInt64(&srv.Info.MessagesDropped) + atomic.LoadInt64(&srv.Info.InflightDropped))
				}))
	}
	var authHook mqtt.Hook = new(auth.AllowHook)
	if cfg.Username != "" {
		authHook = &credHook{user: []byte(cfg.Username), pass: []byte(cfg.Password)}
	}
	if err := srv.AddHook(authHook, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded MQTT broker: auth hook: %w", err)
	}
	if err := srv.AddHook(&flowHook{b: b}, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded MQTT broker: flow hook: %w", err)
	}
	if err := srv.AddHook(b.acks, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded MQTT broker: ack hook: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded MQTT broker: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on (useful with port 0).
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// URL is the tcp:// URL clients use to reach the broker.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Run serves until ctx ends, then closes the listener and every client connection.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("embedded MQTT broker: serve: %w", err)
	}
	b.log.Info("embedded MQTT broker listening", "component", "broker", "addr", b.Addr())
	<-ctx.Done()
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("embedded MQTT broker: close: %w", err)
	}
	return nil
}

// Check reports readiness: the listener accepts connections.
func (b *Broker) Check(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", b.Addr())
	if err != nil {
		return fmt.Errorf("embedded MQTT broker: %w", err)
	}
	return c.Close()
}

// credHook admits clients over loopback, and others only with the configured credentials.
type credHook struct {
	mqtt.HookBase
	user, pass []byte
}

func (h *credHook) ID() string { return "ioc-credentials" }

func (h *credHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *credHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if host, _, err := net.SplitHostPort(cl.Net.Remote); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	return subtle.ConstantTimeCompare(pk.Connect.Username, h.user) == 1 &&
		subtle.ConstantTimeCompare(pk.Connect.Password, h.pass) == 1
}

func (h *credHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// flowHook holds inbound publishes while a watched subscriber's window is full.
type flowHook struct {
	mqtt.HookBase
	b *Broker
}

func (h *flowHook) ID() string { return "ioc-flow-control" }

func (h *flowHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPublish}, []byte{b})
}

func (h *flowHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.b.watched(cl.ID) {
		return pk, nil
	}
	var start time.Time
	for h.full() {
		if start.IsZero() {
			start = time.Now()
			h.b.held.Inc()
		}
		if time.Since(start) > h.b.cfg.MaxWait || cl.Closed() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !start.IsZero() {
		h.b.heldNs.Add(int64(time.Since(start)))
	}
	return pk, nil
}

// watched reports whether id is one of ioc's own subscribers.
func (b *Broker) watched(id string) bool {
	return slices.Contains(b.cfg.Watch, id)
}

// full reports whether any connected watched subscriber has a full window.
func (h *flowHook) full() bool {
	for _, p := range h.b.cfg.Watch {
		cl, ok := h.b.srv.Clients.Get(p)
		if ok && !cl.Closed() && cl.State.Inflight.Len() >= h.b.cfg.MaxInflight {
			return true
		}
	}
	return false
}

// minLevel drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
