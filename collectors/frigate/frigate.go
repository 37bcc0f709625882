// Package frigate collects AI-camera detections from Frigate NVR over MQTT: tracked objects on
// <prefix>/events and review segments on <prefix>/reviews.
package frigate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one Frigate instance's MQTT feed.
type Config struct {
	Name           string        `yaml:"name"`            // collector name, the events' Source
	Broker         string        `yaml:"broker"`          // tcp://host:1883, ssl://host:8883
	ClientID       string        `yaml:"client_id"`       // stable: the broker keeps our session (clean session off)
	Username       string        `yaml:"username"`        //
	Password       string        `yaml:"password"`        //
	TopicPrefix    string        `yaml:"topic_prefix"`    // Frigate's mqtt.topic_prefix
	BaseURL        string        `yaml:"base_url"`        // Frigate UI/API base for snapshot links; empty: no links
	QueueSize      int           `yaml:"queue_size"`      // messages buffered between paho and the decoder
	ConnectTimeout time.Duration `yaml:"connect_timeout"` //
	MaxTracked     int           `yaml:"max_tracked"`     // open Frigate events remembered at once
	TrackTTL       time.Duration `yaml:"track_ttl"`       // forget an open event not updated for this long
}

// Defaults returns the configuration defaults.
func Defaults() Config {
	return Config{Name: "frigate", ClientID: "ioc-frigate", TopicPrefix: "frigate", QueueSize: 1024,
		ConnectTimeout: 10 * time.Second, MaxTracked: 10000, TrackTTL: time.Hour}
}

// Validate reports every problem with its key path.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		bad("name", "is required")
	}
	if u, err := url.Parse(c.Broker); err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		bad("broker", "must be tcp://, ssl://, ws:// or wss:// host:port, got %q", c.Broker)
	}
	if c.ClientID == "" {
		bad("client_id", "is required (a persistent session needs a stable id)")
	}
	if c.TopicPrefix == "" || strings.ContainsAny(c.TopicPrefix, "#+") {
		bad("topic_prefix", "must be a plain topic level, got %q", c.TopicPrefix)
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("base_url", "must be an http(s) URL, got %q", c.BaseURL)
		}
	}
	if c.QueueSize <= 0 {
		bad("queue_size", "must be positive")
	}
	if c.ConnectTimeout <= 0 {
		bad("connect_timeout", "must be positive")
	}
	if c.MaxTracked <= 0 {
		bad("max_tracked", "must be positive")
	}
	if c.TrackTTL <= 0 {
		bad("track_ttl", "must be positive")
	}
	return errors.Join(errs...)
}

// Client is the part of paho's mqtt.Client the collector uses. NewClient builds it; tests may swap it.
type Client interface {
	Connect() mqtt.Token
	Disconnect(quiesce uint)
}

// Collector subscribes to a Frigate instance's events and reviews and emits camera events.
type Collector struct {
	cfg       Config
	cams      *camera.Registry
	log       *slog.Logger
	m         *camera.Metrics
	now       func() time.Time
	newClient func(*mqtt.ClientOptions) Client

	mu      sync.Mutex // guards tracked
	tracked map[string]time.Time
}

var _ stream.Collector = (*Collector)(nil)

// New builds a Frigate collector.
func New(cfg Config, cams *camera.Registry, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("frigate: %w", err)
	}
	m, err := camera.NewMetrics(reg, "frigate")
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, cams: cams, log: log.With("component", "frigate", "collector", cfg.Name), m: m,
		now: time.Now, tracked: map[string]time.Time{},
		newClient: func(o *mqtt.ClientOptions) Client { return mqtt.NewClient(o) }}, nil
}

// Topics returns the topics the collector subscribes to.
func (c *Collector) Topics() (events, reviews string) {
	return c.cfg.TopicPrefix + "/events", c.cfg.TopicPrefix + "/reviews"
}

// Run connects, subscribes with QoS 1 on a persistent session and emits until ctx ends. A message is
// acknowledged to the broker when the pipeline calls the batch's Done (or at once when it carries no
// event). Order matters (new → update → end of one Frigate event), so paho delivers messages in
// order, and its handler never blocks: it only hands each message to a bounded queue; when the queue
// is full the message is acknowledged, dropped and counted, so the broker's in-flight window never
// stalls.
func (c *Collector) Run(ctx context.Context, emit stream.Emit) error {
	q := make(chan mqtt.Message, c.cfg.QueueSize)
	events, reviews := c.Topics()
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		select {
		case q <- msg:
		default:
			c.m.Dropped.Inc()
			msg.Ack()
		}
	}
	o := mqtt.NewClientOptions().AddBroker(c.cfg.Broker).SetClientID(c.cfg.ClientID).
		SetUsername(c.cfg.Username).SetPassword(c.cfg.Password).
		SetCleanSession(false).SetAutoAckDisabled(true).SetOrderMatters(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectTimeout(c.cfg.ConnectTimeout).
		SetMaxReconnectInterval(30 * time.Second)
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		tok := cl.SubscribeMultiple(map[string]byte{events: 1, reviews: 1}, handler)
		go func() {
			if tok.WaitTimeout(c.cfg.ConnectTimeout) && tok.Error() != nil {
				c.log.Error("subscribe failed", "error", tok.Error())
			}
		}()
		c.log.Info("connected", "broker", c.cfg.Broker)
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		c.log.Warn("connection lost", "error", err)
	})
	o.SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) { c.m.Reconnects.Inc() })
	cl := c.newClient(o)
	// With ConnectRetry the token completes only once connected; we do not wait on it, paho retries.
	cl.Connect()
	defer cl.Disconnect(250)

	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			c.prune(c.now())
		case msg := <-q:
			c.handle(ctx, emit, msg.Topic(), msg.Payload(), msg.Ack)
		}
	}
}

// handle decodes one message and emits its event; ack is called once the event is stored or at once
// when there is nothing to emit.
func (c *Collector) handle(ctx context.Context, emit stream.Emit, topic string, payload []byte, ack func()) {
	c.m.Received.Inc()
	events, reviews := c.Topics()
	var ev stream.Event
	var err error
	switch topic {
	case events:
		ev, err = c.objectEvent(payload)
	case reviews:
		ev, err = c.reviewEvent(payload)
	default:
		err = stream.Reject(stream.ReasonUnknownTopic, "topic %s", topic)
	}
	if err != nil {
		c.m.DecodeErrors.WithLabelValues(stream.ReasonOf(err)).Inc()
		c.log.Debug("message rejected", "topic", topic, "error", err)
		ack()
		return
	}
	if err := emit(ctx, stream.Batch{Events: []stream.Event{ev}, Done: ack}); err != nil {
		c.log.Warn("emit failed", "error", err)
		return
	}
	c.m.Emitted.Inc()
}

func unix(s float64) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// objectEvent turns a frigate/events message into a camera event and keeps the open-event table.
func (c *Collector) objectEvent(payload []byte) (stream.Event, error) {
	m, err := DecodeEvent(payload)
	if err != nil {
		return stream.Event{}, err
	}
	a := m.After
	t := unix(a.StartTime)
	switch {
	case m.Type == TypeEnd && a.EndTime != nil:
		t = unix(*a.EndTime)
	case m.Type != TypeNew && a.FrameTime > 0:
		t = unix(a.FrameTime)
	}
	ev := c.cams.Resolve(c.cfg.Name, "frigate:"+a.Camera, t, camera.FrigateID(a.Camera))
	state := camera.StateActive
	if m.Type == TypeEnd {
		state = camera.StateEnded
	}
	c.track(m.Type, a.ID)
	set := func(k, v string) {
		if v != "" {
			ev.Attrs[k] = v
		}
	}
	set("event_id", a.ID)
	set("event_type", m.Type)
	set("state", state)
	set("label", a.Label)
	set("frigate_camera", a.Camera)
	set("zones", strings.Join(a.CurrentZones, ","))
	set("entered_zones", strings.Join(a.EnteredZones, ","))
	if m.Before != nil {
		set("zones_entered_now", newlyEntered(m.Before.EnteredZones, a.EnteredZones))
	} else {
		set("zones_entered_now", strings.Join(a.EnteredZones, ","))
	}
	if name, score, ok := subLabel(a.SubLabel); ok {
		set("sub_label", name)
		if score > 0 {
			ev.Values["sub_label_score"] = score
		}
	}
	if a.FalsePositive {
		ev.Attrs["false_positive"] = "true"
	}
	if a.Stationary {
		ev.Attrs["stationary"] = "true"
	}
	if a.HasSnapshot && c.cfg.BaseURL != "" {
		ev.Attrs["snapshot_url"] = strings.TrimRight(c.cfg.BaseURL, "/") + "/api/events/" + url.PathEscape(a.ID) + "/snapshot.jpg"
	}
	ev.Values["score"] = a.Score
	ev.Values["top_score"] = a.TopScore
	ev.Values["count"] = 1
	if m.Type == TypeEnd && a.EndTime != nil && *a.EndTime >= a.StartTime {
		ev.Values["duration_s"] = *a.EndTime - a.StartTime
	}
	return ev, nil
}

// reviewEvent turns a frigate/reviews message into a camera event.
func (c *Collector) reviewEvent(payload []byte) (stream.Event, error) {
	r, err := DecodeReview(payload)
	if err != nil {
		return stream.Event{}, err
	}
	a := r.After
	t := unix(a.StartTime)
	if r.Type == TypeEnd && a.EndTime != nil {
		t = unix(*a.EndTime)
	}
	ev := c.cams.Resolve(c.cfg.Name, "frigate:"+a.Camera, t, camera.FrigateID(a.Camera))
	state := camera.StateActive
	if r.Type == TypeEnd {
		state = camera.StateEnded
	}
	set := func(k, v string) {
		if v != "" {
			ev.Attrs[k] = v
		}
	}
	set("event_id", a.ID)
	set("event_type", "review_"+r.Type)
	set("state", state)
	set("severity", a.Severity)
	set("label", strings.Join(a.Data.Objects, ","))
	set("sub_label", strings.Join(a.Data.SubLabels, ","))
	set("zones", strings.Join(a.Data.Zones, ","))
	set("frigate_camera", a.Camera)
	ev.Values["detections"] = float64(len(a.Data.Detections))
	ev.Values["count"] = 1
	if r.Type == TypeEnd && a.EndTime != nil && *a.EndTime >= a.StartTime {
		ev.Values["duration_s"] = *a.EndTime - a.StartTime
	}
	return ev, nil
}

// track keeps the table of open Frigate events: new and update open (or refresh) one, end closes it.
func (c *Collector) track(typ, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if typ == TypeEnd {
		delete(c.tracked, id)
		return
	}
	if _, ok := c.tracked[id]; !ok && len(c.tracked) >= c.cfg.MaxTracked {
		return
	}
	c.tracked[id] = c.now()
}

// prune forgets open events not updated within TrackTTL (Frigate restarted, end message lost).
func (c *Collector) prune(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, seen := range c.tracked {
		if now.Sub(seen) > c.cfg.TrackTTL {
			delete(c.tracked, id)
		}
	}
}

// Open returns the number of Frigate events currently open.
func (c *Collector) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tracked)
}
