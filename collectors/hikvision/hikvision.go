// Package hikvision collects Hikvision ISAPI alarms (EventNotificationAlert): pushed to an HTTP
// handler by cameras and NVRs ("HTTP listening" / alarm host), and optionally pulled from each
// device's long-lived /ISAPI/Event/notification/alertStream.
package hikvision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the Hikvision collector.
type Config struct {
	Name           string                   `yaml:"name"`            // collector name, the events' Source
	Auth           camera.AuthConfig        `yaml:"auth"`            // protects the push handler
	MaxBodyBytes   int64                    `yaml:"max_body_bytes"`  // per pushed request, pictures included
	CollapseWindow time.Duration            `yaml:"collapse_window"` // 0 disables repeat collapsing
	QuietTimeout   time.Duration            `yaml:"quiet_timeout"`   // an active alarm with no repeat for this long ends
	QuietTimeouts  map[string]time.Duration `yaml:"quiet_timeouts"`  // per event type (lowercase), overrides quiet_timeout
	TimeZone       string                   `yaml:"time_zone"`       // for dateTime values without an offset
	Streams        []StreamConfig           `yaml:"streams"`         // devices to pull alertStream from
	ReconnectMin   time.Duration            `yaml:"reconnect_min"`   // first reconnect delay
	ReconnectMax   time.Duration            `yaml:"reconnect_max"`   // reconnect delay cap
	IdleTimeout    time.Duration            `yaml:"idle_timeout"`    // reconnect when a stream is silent this long
}

// StreamConfig is one device to pull alerts from.
type StreamConfig struct {
	URL      string `yaml:"url"`  // device base URL, http://10.0.0.64
	Auth     string `yaml:"auth"` // digest (default) or basic
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// AlertStreamPath is the ISAPI long-poll path.
const AlertStreamPath = "/ISAPI/Event/notification/alertStream"

// Defaults returns the configuration defaults.
func Defaults() Config {
	return Config{Name: "hikvision", MaxBodyBytes: 4 << 20, CollapseWindow: 10 * time.Second, QuietTimeout: 10 * time.Second,
		TimeZone: "Asia/Ho_Chi_Minh", ReconnectMin: time.Second, ReconnectMax: time.Minute, IdleTimeout: 90 * time.Second}
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
	if err := c.Auth.Validate("auth"); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > 64<<20 {
		bad("max_body_bytes", "must be in (0, 64 MiB], got %d", c.MaxBodyBytes)
	}
	if c.CollapseWindow < 0 {
		bad("collapse_window", "must not be negative")
	}
	if c.QuietTimeout <= 0 {
		bad("quiet_timeout", "must be positive")
	}
	for k, v := range c.QuietTimeouts {
		if v <= 0 {
			bad("quiet_timeouts."+k, "must be positive")
		}
		if k != strings.ToLower(k) {
			bad("quiet_timeouts."+k, "event type keys are lowercase")
		}
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		bad("time_zone", "unknown time zone %q", c.TimeZone)
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		bad("reconnect_min", "must be positive and not above reconnect_max")
	}
	if c.IdleTimeout <= 0 {
		bad("idle_timeout", "must be positive")
	}
	for i, s := range c.Streams {
		p := fmt.Sprintf("streams[%d]", i)
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(p+".url", "must be the device's http(s) base URL, got %q", s.URL)
		}
		if s.Auth != "" && s.Auth != "digest" && s.Auth != "basic" {
			bad(p+".auth", "must be digest or basic, got %q", s.Auth)
		}
		if s.Username == "" {
			bad(p+".username", "is required")
		}
	}
	return errors.Join(errs...)
}

// Collector turns ISAPI alarms into camera events.
type Collector struct {
	cfg     Config
	cams    *camera.Registry
	log     *slog.Logger
	m       *camera.Metrics
	auth    *camera.Auth
	loc     *time.Location
	collect *camera.Collapser
	out     camera.Outlet
	now     func() time.Time
	client  *http.Client

	mu   sync.Mutex // guards open
	open map[string]*alarm
}

// alarm is an active alarm awaiting its end (explicit inactive or quiet timeout).
type alarm struct {
	base  stream.Event // the last active event, reused for the ended one
	start time.Time
	last  time.Time // when we last heard it
	typ   string
}

var _ stream.Collector = (*Collector)(nil)

// New builds a Hikvision collector.
func New(cfg Config, cams *camera.Registry, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hikvision: %w", err)
	}
	m, err := camera.NewMetrics(reg, "hikvision")
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("hikvision: time zone: %w", err)
	}
	c := &Collector{cfg: cfg, cams: cams, log: log.With("component", "hikvision", "collector", cfg.Name), m: m, loc: loc,
		collect: camera.NewCollapser(cfg.CollapseWindow), now: time.Now, client: &http.Client{}, open: map[string]*alarm{}}
	c.auth, err = camera.NewAuth(cfg.Auth, func() time.Time { return c.now() })
	if err != nil {
		return nil, fmt.Errorf("hikvision: %w", err)
	}
	return c, nil
}

// Run emits pushed alarms, pulls the configured alert streams, and ends quiet alarms until ctx ends.
func (c *Collector) Run(ctx context.Context, emit stream.Emit) error {
	c.out.Open(emit)
	defer c.out.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range c.cfg.Streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pull(ctx, s)
		}()
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.out.Emit(ctx, c.m, c.sweep(c.now())); err != nil {
				c.log.Warn("emit swept events failed", "error", err)
			}
		}
	}
}

// Handler receives pushed alarms (POST, any path). Mount it at "POST /api/v1/ingest/hikvision" and
// point the devices' HTTP listening / alarm host at that URL.
func (c *Collector) Handler() http.Handler {
	return httpapi.Wrap(c.log, c.push)
}

func (c *Collector) push(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		return httpapi.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "chỉ nhận POST / only POST is accepted")
	}
	body, err := camera.ReadBody(w, r, c.cfg.MaxBodyBytes, c.auth, c.m)
	if err != nil {
		return err
	}
	alerts, pics, err := Decode(r.Header.Get("Content-Type"), body)
	if err != nil {
		c.m.DecodeErrors.WithLabelValues(stream.ReasonOf(err)).Inc()
		return httpapi.BadRequest("cảnh báo không hợp lệ / invalid alert: %v", err)
	}
	if err := c.out.Commit(r.Context(), c.m, c.events(alerts, pics)); err != nil { // 200 only once stored
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// events turns decoded alerts into what to emit now, updating heartbeats and the open-alarm table.
func (c *Collector) events(alerts []Alert, pics []Picture) []stream.Event {
	now := c.now()
	var out []stream.Event
	for _, a := range alerts {
		c.m.Received.Inc()
		ch := a.ChannelID
		if ch == 0 {
			ch = a.DynChannelID
		}
		ids := camera.HikvisionIDs(a.MACAddress, a.IPAddress, ch)
		typ := strings.ToLower(a.EventType)
		inactive := strings.EqualFold(a.EventState, "inactive")
		if typ == "videoloss" && inactive && a.ActivePostCount == 0 {
			c.cams.Heard(ids...) // heartbeat
			continue
		}
		ev := c.cams.Resolve(c.cfg.Name, fallbackEntity(a, ch), c.alertTime(a, now), ids...)
		fill(&ev, a, typ, pics)
		key := camera.Key(ev.Entity, what(ev), typ, "")
		if inactive {
			out = append(out, c.collect.Close(camera.Key(ev.Entity, what(ev), typ, camera.StateActive))...)
			out = append(out, c.end(key, ev)...)
			continue
		}
		if !momentary[typ] {
			c.activate(key, ev, typ, now)
		}
		got := c.collect.Offer(camera.Key(ev.Entity, what(ev), typ, camera.StateActive), ev.Clone(), now)
		if len(got) == 0 {
			c.m.Collapsed.Inc()
		}
		out = append(out, got...)
	}
	return out
}

// momentary event types are single detections: they never open an alarm and are never auto-ended.
var momentary = map[string]bool{"anpr": true}

// what identifies the subject of an event for collapsing: the label, and the plate or other sub
// label when there is one (two different plates are not repeats).
func what(ev stream.Event) string { return ev.Attrs["label"] + "/" + ev.Attrs["sub_label"] }

func fallbackEntity(a Alert, ch int) string {
	id := a.MACAddress
	if id == "" {
		id = a.IPAddress
	}
	return "hikvision:" + strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(id)) + "-" + strconv.Itoa(max(ch, 1))
}

// labels maps ISAPI event types (lowercase) to ioc labels when the alert names no target.
var labels = map[string]string{
	"vmd":            "motion",
	"linedetection":  "line_crossing",
	"fielddetection": "intrusion",
	"regionentrance": "region_entrance",
	"regionexiting":  "region_exiting",
	"videoloss":      "video_loss",
	"shelteralarm":   "tampering",
	"anpr":           "vehicle",
}

func fill(ev *stream.Event, a Alert, typ string, pics []Picture) {
	set := func(k, v string) {
		if v != "" {
			ev.Attrs[k] = v
		}
	}
	label := labels[typ]
	var zones, targets []string
	for _, r := range a.Regions {
		if r.RegionID != "" {
			zones = append(zones, r.RegionID)
		}
		if r.DetectionTarget != "" && r.DetectionTarget != "others" {
			targets = append(targets, r.DetectionTarget)
		}
	}
	if len(targets) > 0 {
		label = targets[0]
	}
	if label == "" {
		label = typ
	}
	set("label", label)
	set("event_type", a.EventType)
	set("state", camera.StateActive)
	set("zones", strings.Join(zones, ","))
	set("description", a.EventDescription)
	set("channel_name", a.ChannelName)
	set("ip", a.IPAddress)
	set("mac", strings.ToLower(a.MACAddress))
	if a.ANPR != nil {
		set("sub_label", a.ANPR.LicensePlate)
		set("plate", a.ANPR.LicensePlate)
		set("vehicle_type", a.ANPR.VehicleType)
		set("direction", a.ANPR.Direction)
		set("plate_color", a.ANPR.PlateColor)
		if a.ANPR.ConfidenceLevel > 0 {
			ev.Values["score"] = a.ANPR.ConfidenceLevel / 100
		}
	}
	if len(pics) > 0 {
		ev.Attrs["picture"] = "attached"
		size := 0
		for _, p := range pics {
			size += p.Size
		}
		ev.Values["picture_bytes"] = float64(size)
	}
	ev.Values["active_post_count"] = float64(a.ActivePostCount)
}

// alertTime reads dateTime: RFC 3339, or local time in the configured zone; now when missing or bad.
func (c *Collector) alertTime(a Alert, now time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, a.DateTime); err == nil {
		return t
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", a.DateTime, c.loc); err == nil {
		return t
	}
	return now
}

// activate opens or refreshes an active alarm.
func (c *Collector) activate(key string, ev stream.Event, typ string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if al, ok := c.open[key]; ok {
		al.last, al.base = now, ev.Clone()
		return
	}
	c.open[key] = &alarm{base: ev.Clone(), start: now, last: now, typ: typ}
}

// end closes an alarm on an explicit inactive state and returns the ended event.
func (c *Collector) end(key string, ev stream.Event) []stream.Event {
	c.mu.Lock()
	al, ok := c.open[key]
	delete(c.open, key)
	c.mu.Unlock()
	ev.Attrs["state"] = camera.StateEnded
	ev.Values["count"] = 1
	if ok {
		ev.Values["duration_s"] = c.now().Sub(al.start).Seconds()
	}
	return []stream.Event{ev}
}

func (c *Collector) quiet(typ string) time.Duration {
	if d, ok := c.cfg.QuietTimeouts[typ]; ok {
		return d
	}
	return c.cfg.QuietTimeout
}

// sweep ends alarms quiet for longer than their timeout (Hikvision often never sends inactive) and
// releases collapsed repeats whose window closed. The ended event is stamped with the last time the
// alarm was heard.
func (c *Collector) sweep(now time.Time) []stream.Event {
	out := c.collect.Flush(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, al := range c.open {
		if now.Sub(al.last) <= c.quiet(al.typ) {
			continue
		}
		delete(c.open, key)
		out = append(out, c.collect.Close(camera.Key(al.base.Entity, what(al.base), al.typ, camera.StateActive))...)
		ev := al.base.Clone()
		ev.Attrs["state"] = camera.StateEnded
		ev.Attrs["auto_cleared"] = "true"
		ev.Values["count"] = 1
		ev.Values["duration_s"] = al.last.Sub(al.start).Seconds()
		out = append(out, ev)
	}
	return out
}
