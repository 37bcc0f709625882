// Package alarm turns events into alarms: rules (thresholds with hysteresis and minimum durations,
// water alert levels, rates of change, offline devices, camera labels in zones, counts per area, and
// their combinations), an engine that runs them as a pipeline stage, the alarm lifecycle with operator
// actions over HTTP, a store on SQLite or PostgreSQL, and notifications by webhook and MQTT.
package alarm

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures the alarm component.
type Config struct {
	Store StoreConfig `yaml:"store"`
	// QueueSize bounds the engine's internal queues (rule transitions, alarm change events).
	QueueSize int `yaml:"queue_size"`
	// TickInterval is how often offline rules, count windows and escalations are checked.
	TickInterval time.Duration `yaml:"tick_interval"`
	// MaxEventAge: an event older than this by its own time (a backlog after a long outage, a device's
	// stored history, the demo's past) is kept as history but raises and clears nothing, so operators are
	// not paged for conditions of days ago; offline rules still see the device. 0 evaluates every event.
	MaxEventAge time.Duration `yaml:"max_event_age"`
	// Cooldown is the default time a condition must stay clear after a clear before the same rule may
	// raise a new alarm for the same source.
	Cooldown time.Duration `yaml:"cooldown"`
	// EscalateAfter is the default time after which an unacknowledged alarm escalates; 0 turns the
	// default off (rules may still set their own).
	EscalateAfter time.Duration `yaml:"escalate_after"`
	// Fields is the known-field list per kind ("*" for every kind); rules on other fields are refused.
	Fields Fields `yaml:"fields"`
	// Rules are the rules from the configuration file; they cannot be changed through the API.
	Rules  []Rule       `yaml:"rules"`
	Notify NotifyConfig `yaml:"notify"`
}

// StoreConfig says where alarms are kept.
type StoreConfig struct {
	Type string `yaml:"type"` // sqlite | postgres
	Path string `yaml:"path"` // sqlite file
	DSN  string `yaml:"dsn"`  // postgres connection string, for example "postgres://ioc@db:5432/ioc?search_path=ioc"
}

// NotifyConfig configures notifications.
type NotifyConfig struct {
	// On lists the alarm actions that notify: raise, escalate, upgrade, clear.
	On             []string      `yaml:"on"`
	QueueSize      int           `yaml:"queue_size"`
	MaxAttempts    int           `yaml:"max_attempts"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	Webhooks       []Webhook     `yaml:"webhooks"`
	MQTT           *MQTTTarget   `yaml:"mqtt"`
}

// Webhook posts alarm notifications as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>".
type Webhook struct {
	Name        string        `yaml:"name"`
	URL         string        `yaml:"url"`
	Secret      string        `yaml:"secret"`
	Timeout     time.Duration `yaml:"timeout"`
	MinSeverity string        `yaml:"min_severity"` // empty: every severity
}

// MQTTTarget publishes alarm notifications on <topic_prefix>/<severity>/<area>.
type MQTTTarget struct {
	Broker      string        `yaml:"broker"` // tcp://host:port
	ClientID    string        `yaml:"client_id"`
	Username    string        `yaml:"username"`
	Password    string        `yaml:"password"`
	QoS         byte          `yaml:"qos"`
	TopicPrefix string        `yaml:"topic_prefix"`
	Timeout     time.Duration `yaml:"timeout"`
	MinSeverity string        `yaml:"min_severity"`
}

// Defaults returns the alarm configuration ioc runs with; the only place defaults live, together
// with the two target defaults below (a zero target timeout means 10 s, an empty topic prefix means
// ioc/alarms).
func Defaults() Config {
	return Config{
		Store:         StoreConfig{Type: "sqlite", Path: "data/alarms.db"},
		QueueSize:     4096,
		TickInterval:  15 * time.Second,
		MaxEventAge:   6 * time.Hour,
		Cooldown:      5 * time.Minute,
		EscalateAfter: 15 * time.Minute,
		Fields:        DefaultFields(),
		Notify: NotifyConfig{
			On:             []string{ActionRaise, ActionEscalate, ActionUpgrade, ActionClear},
			QueueSize:      1024,
			MaxAttempts:    6,
			InitialBackoff: time.Second,
			MaxBackoff:     2 * time.Minute,
		},
	}
}

// Target defaults, applied where a target leaves them zero.
const (
	defaultTargetTimeout = 10 * time.Second
	defaultTopicPrefix   = "ioc/alarms"
)

// Validate reports every problem with its key path (relative to the alarm section).
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	switch c.Store.Type {
	case "sqlite":
		if c.Store.Path == "" {
			add("store.path", "must be set for sqlite")
		}
	case "postgres":
		if c.Store.DSN == "" {
			add("store.dsn", "must be set for postgres")
		}
	default:
		add("store.type", "must be sqlite or postgres, got %q", c.Store.Type)
	}
	if c.QueueSize <= 0 {
		add("queue_size", "must be positive")
	}
	if c.TickInterval <= 0 {
		add("tick_interval", "must be positive")
	}
	if c.MaxEventAge < 0 {
		add("max_event_age", "must not be negative (0 evaluates every event)")
	}
	if c.Cooldown < 0 {
		add("cooldown", "must not be negative")
	}
	if c.EscalateAfter < 0 {
		add("escalate_after", "must not be negative")
	}
	if err := ValidateRules(c.Rules, c.fields()); err != nil {
		errs = append(errs, err)
	}
	n := c.Notify
	for i, on := range n.On {
		switch on {
		case ActionRaise, ActionEscalate, ActionUpgrade, ActionClear, ActionAck:
		default:
			add(fmt.Sprintf("notify.on[%d]", i), "must be one of raise, escalate, upgrade, clear, ack, got %q", on)
		}
	}
	if n.QueueSize <= 0 {
		add("notify.queue_size", "must be positive")
	}
	if n.MaxAttempts < 1 {
		add("notify.max_attempts", "must be at least 1")
	}
	if n.InitialBackoff <= 0 || n.MaxBackoff < n.InitialBackoff {
		add("notify.initial_backoff", "must be positive and at most notify.max_backoff")
	}
	minSev := func(p, s string) {
		if s != "" && severityRank(s) < 0 {
			add(p, "must be empty or one of %s, got %q", strings.Join(severities, ", "), s)
		}
	}
	names := map[string]bool{}
	for i, w := range n.Webhooks {
		p := fmt.Sprintf("notify.webhooks[%d]", i)
		if w.Name == "" || names[w.Name] {
			add(p+".name", "must be set and unique")
		}
		names[w.Name] = true
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			add(p+".url", "must be an http:// or https:// URL, got %q", w.URL)
		}
		if w.Secret == "" {
			add(p+".secret", "must be set (receivers verify the signature with it)")
		}
		if w.Timeout < 0 {
			add(p+".timeout", "must not be negative")
		}
		minSev(p+".min_severity", w.MinSeverity)
	}
	if m := n.MQTT; m != nil {
		if !strings.Contains(m.Broker, "://") {
			add("notify.mqtt.broker", "must be a URL such as tcp://127.0.0.1:1883, got %q", m.Broker)
		}
		if m.QoS > 2 {
			add("notify.mqtt.qos", "must be 0, 1 or 2")
		}
		if strings.ContainsAny(m.TopicPrefix, "#+") {
			add("notify.mqtt.topic_prefix", "must not contain wildcards")
		}
		if m.Timeout < 0 {
			add("notify.mqtt.timeout", "must not be negative")
		}
		minSev("notify.mqtt.min_severity", m.MinSeverity)
	}
	return errors.Join(errs...)
}

func (c Config) fields() Fields {
	if c.Fields == nil {
		return DefaultFields()
	}
	return c.Fields
}
