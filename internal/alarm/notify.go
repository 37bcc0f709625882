package alarm

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Webhook headers. The signature is "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
const (
	HeaderTimestamp = "X-IOC-Timestamp" // Unix seconds
	HeaderSignature = "X-IOC-Signature"
)

// Sign returns the signature header value for body sent at timestamp ts (Unix seconds as text).
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether sig is the signature of body at ts, in constant time. Receivers
// should also refuse timestamps far from their clock to stop replays.
func VerifySignature(secret, ts string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// Notification is the JSON body of a webhook and the payload of an MQTT notification.
type Notification struct {
	Action string    `json:"action"` // raise, escalate, upgrade, clear, …
	At     time.Time `json:"at"`
	Alarm  Alarm     `json:"alarm"`
}

// Publisher publishes one MQTT message, waiting for the broker's acknowledgement at QoS > 0.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
	Close()
}

type target struct {
	name, kind string // kind: webhook or mqtt
	minSev     string
	send       func(ctx context.Context, n Notification, body []byte) error
	q          chan Notification
}

// Notifier delivers notifications to every target with retries and exponential backoff. Each target has
// its own bounded queue and goroutine, so a failing target never delays the others; a notification that
// finds its target's queue full is dropped and counted. The outcome of the latest delivery per target is
// written to the alarm's notify_status ("hook=ok mqtt=failed: …").
type Notifier struct {
	cfg     NotifyConfig
	store   Store
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
	targets []*target
	newPub  func(MQTTTarget) (Publisher, error)

	mu     sync.Mutex // guards status writes (read-modify-write of notify_status)
	status map[string]map[string]string
}

func newNotifier(cfg NotifyConfig, store Store, log *slog.Logger, m *metrics, newPub func(MQTTTarget) (Publisher, error), now func() time.Time) (*Notifier, error) {
	if newPub == nil {
		newPub = newPahoPublisher
	}
	n := &Notifier{cfg: cfg, store: store, log: log, m: m, now: now, newPub: newPub, status: map[string]map[string]string{}}
	client := &http.Client{}
	for _, w := range cfg.Webhooks {
		timeout := w.Timeout
		if timeout == 0 {
			timeout = defaultTargetTimeout
		}
		n.targets = append(n.targets, &target{name: w.Name, kind: "webhook", minSev: w.MinSeverity, q: make(chan Notification, cfg.QueueSize),
			send: func(ctx context.Context, _ Notification, body []byte) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return postWebhook(ctx, client, w, body, now())
			}})
	}
	if m := cfg.MQTT; m != nil {
		n.targets = append(n.targets, &target{name: "mqtt", kind: "mqtt", minSev: m.MinSeverity, q: make(chan Notification, cfg.QueueSize)})
	}
	return n, nil
}

func postWebhook(ctx context.Context, client *http.Client, w Webhook, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// TopicFor is the MQTT topic of a notification: <prefix>/<severity>/<area>, where area is the most
// precise admin area code of the alarm (commune, then district, then province) or "unknown".
func TopicFor(prefix string, a Alarm) string {
	if prefix == "" {
		prefix = defaultTopicPrefix
	}
	area := "unknown"
	for _, lvl := range []string{"commune", "ward", "district", "province"} {
		if c := a.Areas[lvl]; c != "" {
			area = c
			break
		}
	}
	return prefix + "/" + a.Severity + "/" + area
}

// enqueue offers a notification to every target that wants it, without blocking.
func (n *Notifier) enqueue(a Alarm, action string) {
	if !slices.Contains(n.cfg.On, action) {
		return
	}
	note := Notification{Action: action, At: n.now(), Alarm: a}
	for _, t := range n.targets {
		if t.minSev != "" && severityRank(a.Severity) < severityRank(t.minSev) {
			continue
		}
		select {
		case t.q <- note:
		default:
			n.m.dropped.WithLabelValues("notify_" + t.kind).Inc()
			n.record(a.ID, t.name, "dropped: queue full")
		}
	}
}

// Run delivers until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range n.targets {
		if t.kind == "mqtt" {
			pub, err := n.newPub(*n.cfg.MQTT)
			if err != nil {
				n.log.Error("mqtt notifications disabled", "error", err)
				continue
			}
			defer pub.Close()
			prefix := n.cfg.MQTT.TopicPrefix
			timeout := n.cfg.MQTT.Timeout
			if timeout == 0 {
				timeout = defaultTargetTimeout
			}
			t.send = func(ctx context.Context, note Notification, body []byte) error {
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return pub.Publish(ctx, TopicFor(prefix, note.Alarm), body)
			}
		}
		wg.Go(func() { n.serve(ctx, t) })
	}
	wg.Wait()
}

func (n *Notifier) serve(ctx context.Context, t *target) {
	for {
		select {
		case <-ctx.Done():
			return
		case note := <-t.q:
			n.deliver(ctx, t, note)
		}
	}
}

// deliver tries up to MaxAttempts times, doubling the wait from InitialBackoff up to MaxBackoff.
func (n *Notifier) deliver(ctx context.Context, t *target, note Notification) {
	body, err := json.Marshal(note)
	if err != nil {
		n.log.Error("encode notification", "error", err)
		return
	}
	wait := n.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := t.send(ctx, note, body)
		if err == nil {
			n.m.notifications.WithLabelValues(t.kind, "ok").Inc()
			n.record(note.Alarm.ID, t.name, "ok")
			return
		}
		if attempt >= n.cfg.MaxAttempts || ctx.Err() != nil {
			n.m.notifications.WithLabelValues(t.kind, "failed").Inc()
			n.record(note.Alarm.ID, t.name, "failed: "+err.Error())
			n.log.Warn("alarm notification failed", "target", t.name, "alarm", note.Alarm.ID, "attempts", attempt, "error", err)
			return
		}
		n.m.notifications.WithLabelValues(t.kind, "retry").Inc()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(wait*2, n.cfg.MaxBackoff)
	}
}

// record writes the target's latest outcome into the alarm's notify_status.
func (n *Notifier) record(id, target, result string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.status[id]
	if st == nil {
		if len(n.status) > 10000 { // keep memory bounded; old alarms lose their merged view only
			clear(n.status)
		}
		st = map[string]string{}
		n.status[id] = st
	}
	st[target] = result
	parts := make([]string, 0, len(st))
	for k, v := range st {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.store.SetNotifyStatus(ctx, id, strings.Join(parts, " ")); err != nil {
		n.m.storeErrors.WithLabelValues("notify_status").Inc()
		n.log.Error("record notification status", "alarm", id, "error", err)
	}
}

// pahoPublisher publishes with the Eclipse Paho client.
type pahoPublisher struct {
	c   paho.Client
	qos byte
}

func newPahoPublisher(t MQTTTarget) (Publisher, error) {
	id := t.ClientID
	if id == "" {
		id = "ioc-alarm-notify"
	}
	opts := paho.NewClientOptions().AddBroker(t.Broker).SetClientID(id).SetUsername(t.Username).SetPassword(t.Password).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(5 * time.Second).SetCleanSession(true)
	c := paho.NewClient(opts)
	c.Connect() // with ConnectRetry the client keeps trying in the background; publishes wait for it
	return &pahoPublisher{c: c, qos: t.QoS}, nil
}

func (p *pahoPublisher) Publish(ctx context.Context, topic string, payload []byte) error {
	tok := p.c.Publish(topic, p.qos, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqtt publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt publish %s: %w", topic, ctx.Err())
	}
}

func (p *pahoPublisher) Close() { p.c.Disconnect(250) }
