// Package webhook receives camera events from other AI platforms as signed JSON posted to
// POST /api/v1/ingest/camera/{source}; see docs/CAMERAS.md for the schema.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Route is the pattern the handler serves; mount Handler() at "/api/v1/ingest/camera/".
const Route = "POST /api/v1/ingest/camera/{source}"

// Config configures the webhook collector.
type Config struct {
	Name           string         `yaml:"name"`            // collector name, the events' Source
	Sources        []SourceConfig `yaml:"sources"`         // accepted {source} values and their auth
	MaxBodyBytes   int64          `yaml:"max_body_bytes"`  // per request
	MaxEvents      int            `yaml:"max_events"`      // per request
	CollapseWindow time.Duration  `yaml:"collapse_window"` // 0 disables repeat collapsing
}

// SourceConfig is one platform allowed to post.
type SourceConfig struct {
	Name string            `yaml:"name"` // the {source} path value
	Auth camera.AuthConfig `yaml:"auth"`
}

// Defaults returns the configuration defaults.
func Defaults() Config {
	return Config{Name: "webhook", MaxBodyBytes: 1 << 20, MaxEvents: 100, CollapseWindow: 10 * time.Second}
}

var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate reports every problem with its key path.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: is required"))
	}
	if len(c.Sources) == 0 {
		errs = append(errs, errors.New("sources: at least one source is required"))
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d] (%s)", i, s.Name)
		if !sourceName.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("%s: name: must match %s", p, sourceName))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s: name: duplicate", p))
		}
		seen[s.Name] = true
		if err := s.Auth.Validate(p + ".auth"); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxBodyBytes <= 0 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be in (0, 16 MiB], got %d", c.MaxBodyBytes))
	}
	if c.MaxEvents <= 0 || c.MaxEvents > 10000 {
		errs = append(errs, fmt.Errorf("max_events: must be in (0, 10000], got %d", c.MaxEvents))
	}
	if c.CollapseWindow < 0 {
		errs = append(errs, errors.New("collapse_window: must not be negative"))
	}
	return errors.Join(errs...)
}

// Collector serves the ingest route and emits what it accepts through the emit given to Run.
type Collector struct {
	cfg     Config
	cams    *camera.Registry
	log     *slog.Logger
	m       *camera.Metrics
	auth    map[string]*camera.Auth
	collect *camera.Collapser
	out     camera.Outlet
	now     func() time.Time
}

var _ stream.Collector = (*Collector)(nil)

// New builds a webhook collector over the camera registry.
func New(cfg Config, cams *camera.Registry, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	m, err := camera.NewMetrics(reg, "webhook")
	if err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, cams: cams, log: log.With("component", "webhook", "collector", cfg.Name), m: m,
		auth: map[string]*camera.Auth{}, collect: camera.NewCollapser(cfg.CollapseWindow), now: time.Now}
	for _, s := range cfg.Sources {
		a, err := camera.NewAuth(s.Auth, func() time.Time { return c.now() })
		if err != nil {
			return nil, fmt.Errorf("webhook: source %s: %w", s.Name, err)
		}
		c.auth[s.Name] = a
	}
	return c, nil
}

// Run forwards accepted events to emit until ctx ends, flushing collapsed repeats every second.
func (c *Collector) Run(ctx context.Context, emit stream.Emit) error {
	c.out.Open(emit)
	defer c.out.Close()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.flush(ctx)
		}
	}
}

func (c *Collector) flush(ctx context.Context) {
	if err := c.out.Emit(ctx, c.m, c.collect.Flush(c.now())); err != nil {
		c.log.Warn("emit collapsed repeats failed", "error", err)
	}
}

// Handler serves Route. Mount it with mux.Handle("/api/v1/ingest/camera/", c.Handler()).
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Route, httpapi.Wrap(c.log, c.ingest))
	return mux
}

// Payload is the JSON body of the ingest route.
type Payload struct {
	Events []Input `json:"events"`
}

// Input is one posted camera event; docs/CAMERAS.md documents each field.
type Input struct {
	Camera      string            `json:"camera"`
	EventID     string            `json:"event_id,omitempty"`
	Time        time.Time         `json:"time"`
	Type        string            `json:"type"`
	Label       string            `json:"label,omitempty"`
	SubLabel    string            `json:"sub_label,omitempty"`
	State       string            `json:"state,omitempty"`
	Score       *float64          `json:"score,omitempty"`
	Zones       []string          `json:"zones,omitempty"`
	SnapshotURL string            `json:"snapshot_url,omitempty"`
	DurationS   *float64          `json:"duration_s,omitempty"`
	Location    *[2]float64       `json:"location,omitempty"`
	Attrs       map[string]string `json:"attrs,omitempty"`
}

// Limits on one Input.
const (
	maxText  = 256
	maxZones = 32
	maxAttrs = 16
)

// Decode parses and checks a payload of at most maxEvents events. Errors are *stream.Rejection with
// a detail naming the offending field.
func Decode(body []byte, maxEvents int) (Payload, error) {
	var p Payload
	if err := camera.CheckJSONDepth(body, camera.MaxDepth); err != nil {
		return p, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, stream.Reject(stream.ReasonMalformed, "json: %v", err)
	}
	if dec.More() {
		return p, stream.Reject(stream.ReasonMalformed, "json: trailing data after the object")
	}
	if len(p.Events) == 0 {
		return p, stream.Reject(stream.ReasonEmpty, "events: at least one event is required")
	}
	if len(p.Events) > maxEvents {
		return p, stream.Reject(stream.ReasonTooLarge, "events: at most %d per request, got %d", maxEvents, len(p.Events))
	}
	var errs []string
	for i, in := range p.Events {
		for _, e := range in.check() {
			errs = append(errs, fmt.Sprintf("events[%d].%s", i, e))
		}
	}
	if len(errs) > 0 {
		return p, stream.Reject(stream.ReasonMalformed, "%s", strings.Join(errs, "; "))
	}
	return p, nil
}

func (in Input) check() []string {
	var errs []string
	text := func(key, v string, required bool) {
		switch {
		case required && v == "":
			errs = append(errs, key+": is required")
		case len(v) > maxText:
			errs = append(errs, fmt.Sprintf("%s: longer than %d bytes", key, maxText))
		}
	}
	text("camera", in.Camera, true)
	text("type", in.Type, true)
	text("event_id", in.EventID, false)
	text("label", in.Label, false)
	text("sub_label", in.SubLabel, false)
	text("snapshot_url", in.SnapshotURL, false)
	if in.Time.IsZero() {
		errs = append(errs, "time: is required (RFC 3339 with offset)")
	}
	if in.State != "" && in.State != camera.StateActive && in.State != camera.StateEnded {
		errs = append(errs, "state: must be active or ended")
	}
	if in.Score != nil && (*in.Score < 0 || *in.Score > 1) {
		errs = append(errs, "score: must be in [0, 1]")
	}
	if in.DurationS != nil && *in.DurationS < 0 {
		errs = append(errs, "duration_s: must not be negative")
	}
	if in.SnapshotURL != "" && !strings.HasPrefix(in.SnapshotURL, "http://") && !strings.HasPrefix(in.SnapshotURL, "https://") {
		errs = append(errs, "snapshot_url: must be http(s)")
	}
	if in.Location != nil && stream.CheckLonLat(in.Location[0], in.Location[1]) != nil {
		errs = append(errs, "location: must be [lon, lat] within ±180, ±90")
	}
	if len(in.Zones) > maxZones {
		errs = append(errs, fmt.Sprintf("zones: at most %d", maxZones))
	}
	for j, z := range in.Zones {
		text(fmt.Sprintf("zones[%d]", j), z, true)
	}
	if len(in.Attrs) > maxAttrs {
		errs = append(errs, fmt.Sprintf("attrs: at most %d", maxAttrs))
	}
	for k, v := range in.Attrs {
		text("attrs."+k, v, false)
		if !attrKey.MatchString(k) {
			errs = append(errs, fmt.Sprintf("attrs.%q: key must match %s", k, attrKey))
		}
	}
	return errs
}

var attrKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (c *Collector) ingest(w http.ResponseWriter, r *http.Request) error {
	source := r.PathValue("source")
	auth, ok := c.auth[source]
	if !ok {
		return httpapi.NotFound("nguồn không tồn tại / unknown source %q", source)
	}
	body, err := camera.ReadBody(w, r, c.cfg.MaxBodyBytes, auth, c.m)
	if err != nil {
		return err
	}
	p, err := Decode(body, c.cfg.MaxEvents)
	if err != nil {
		c.m.DecodeErrors.WithLabelValues(stream.ReasonOf(err)).Inc()
		return httpapi.BadRequest("dữ liệu không hợp lệ / invalid payload: %v", err)
	}
	c.m.Received.Add(float64(len(p.Events)))
	now := c.now()
	var out []stream.Event
	for _, in := range p.Events {
		ev := c.event(source, in)
		got := c.collect.Offer(camera.Key(ev.Entity, in.Label, in.Type, ev.Attrs["state"]), ev, now)
		if len(got) == 0 {
			c.m.Collapsed.Inc()
		}
		out = append(out, got...)
	}
	if err := c.out.Commit(r.Context(), c.m, out); err != nil { // 202 only once stored
		return err
	}
	return httpapi.WriteJSON(w, http.StatusAccepted, map[string]int{"accepted": len(p.Events), "emitted": len(out)})
}

// event turns one input into a camera event.
func (c *Collector) event(source string, in Input) stream.Event {
	ev := c.cams.Resolve(c.cfg.Name, "webhook:"+source+":"+in.Camera, in.Time, camera.WebhookID(source, in.Camera))
	if !ev.HasLocation && in.Location != nil {
		ev.Location, ev.HasLocation = *in.Location, true
		ev.Attrs["location_source"] = "payload"
	}
	for k, v := range in.Attrs {
		ev.Attrs["x_"+k] = v
	}
	set := func(k, v string) {
		if v != "" {
			ev.Attrs[k] = v
		}
	}
	state := in.State
	if state == "" {
		state = camera.StateActive
	}
	set("state", state)
	set("event_type", in.Type)
	set("label", in.Label)
	set("sub_label", in.SubLabel)
	set("event_id", in.EventID)
	set("snapshot_url", in.SnapshotURL)
	set("zones", strings.Join(in.Zones, ","))
	set("webhook_source", source)
	if in.Score != nil {
		ev.Values["score"] = *in.Score
	}
	if in.DurationS != nil {
		ev.Values["duration_s"] = *in.DurationS
	}
	return ev
}
