// Package config loads ioc's YAML configuration: one struct per component, defaults in one place
// (Default), any key overridable from the environment (IOC_<PATH>, secrets also from IOC_<PATH>_FILE), and
// Validate reporting every problem at once with its key path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/collectors/frigate"
	"github.com/ioc-vn/ioc/collectors/hikvision"
	"github.com/ioc-vn/ioc/collectors/onvif"
	"github.com/ioc-vn/ioc/collectors/webhook"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/store/influx"
)

// Config is the whole of ioc's configuration.
type Config struct {
	Log        Log             `yaml:"log"`
	HTTP       HTTP            `yaml:"http"`
	Broker     Broker          `yaml:"broker"`
	Collectors []Collector     `yaml:"collectors"`
	Pipeline   Pipeline        `yaml:"pipeline"`
	Store      Store           `yaml:"store"`
	Influx     Influx          `yaml:"influx"`
	Devices    Devices         `yaml:"devices"`
	Live       Live            `yaml:"live"`
	Geo        Geo             `yaml:"geo"`
	Web        Web             `yaml:"web"`
	Demo       Demo            `yaml:"demo"`
	Cameras    []camera.Config `yaml:"cameras"`
	Frigate    Frigate         `yaml:"frigate"`
	Hikvision  Hikvision       `yaml:"hikvision"`
	ONVIF      ONVIF           `yaml:"onvif"`
	Webhook    Webhook         `yaml:"webhook"`
	Liveness   CameraLiveness  `yaml:"camera_liveness"`
	Alarm      alarm.Config    `yaml:"alarm"`
	Reports    report.Config   `yaml:"reports"`
	Cluster    Cluster         `yaml:"cluster"`
	Auth       auth.Config     `yaml:"auth"`
	Admin      Admin           `yaml:"admin"`
	Shutdown   Shutdown        `yaml:"shutdown"`

	Indicators indicator.Config `yaml:"indicators"` // steering indicators (docs/INDICATORS.md)
	Briefings  briefing.Config  `yaml:"briefings"`  // scheduled reports (docs/INDICATORS.md)
}

// Frigate is the Frigate MQTT camera collector; broker "embedded" uses the embedded broker.
type Frigate struct {
	Enabled        bool `yaml:"enabled"`
	frigate.Config `yaml:",inline"`
}

// Hikvision is the Hikvision ISAPI collector (push listener on POST /api/v1/ingest/hikvision, optional pulls).
type Hikvision struct {
	Enabled          bool `yaml:"enabled"`
	hikvision.Config `yaml:",inline"`
}

// ONVIF is the ONVIF PullPoint collector.
type ONVIF struct {
	Enabled      bool `yaml:"enabled"`
	onvif.Config `yaml:",inline"`
}

// Webhook is the generic camera webhook on POST /api/v1/ingest/camera/{source}.
type Webhook struct {
	Enabled        bool `yaml:"enabled"`
	webhook.Config `yaml:",inline"`
}

// CameraLiveness marks registered cameras offline on the map when nothing was heard from them.
type CameraLiveness struct {
	OfflineAfter time.Duration `yaml:"offline_after"` // silence before a camera is offline
	CheckEvery   time.Duration `yaml:"check_every"`
}

// Cluster joins several ioc nodes through NATS JetStream (empty nats_url: a single node).
type Cluster struct {
	NodeID  string `yaml:"node_id"`  // unique per node
	NATSURL string `yaml:"nats_url"` // nats://127.0.0.1:4222
	Bucket  string `yaml:"bucket"`   // JetStream key-value bucket for entity state
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// HTTP configures the HTTP server.
type HTTP struct {
	Addr           string   `yaml:"addr"`            // listen address; ":8080" is IPv4 and IPv6
	AllowedOrigins []string `yaml:"allowed_origins"` // websocket origins besides the server's own host
	MaxBody        int64    `yaml:"max_body"`        // bytes, default limit of every request body
	TLSCert        string   `yaml:"tls_cert"`        // PEM certificate chain file; with tls_key, serve HTTPS
	TLSKey         string   `yaml:"tls_key"`         // PEM private key file
	// TrustedProxies are reverse proxies (CIDR prefixes or addresses) whose X-Forwarded-For and
	// X-Real-IP name the client; empty: the TCP peer is the client (docs/SECURITY.md).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Admin is the first administrator, created at the first start when no account exists
// (IOC_ADMIN_USER, IOC_ADMIN_PASSWORD or IOC_ADMIN_PASSWORD_FILE). Without a password one is generated
// and written to admin-password beside the store (mode 0600). Token, when set, is also an API token of
// that admin (it must start with "ioc_"; for automation and tests).
type Admin struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
}

// Broker configures the embedded MQTT broker.
type Broker struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"` // host:port; port 0 picks a free one
	// OnTaken says what to do when listen's port is taken: fail, or next_free — the first free one of the
	// next 20 ports (stable from one start to the next while they stay free), else any free port.
	OnTaken string `yaml:"on_taken"`
	// MaxInflight bounds unacknowledged QoS 1 messages toward one subscriber before publishers are slowed down.
	MaxInflight int `yaml:"max_inflight"`
	// Username and Password are required from every client when listen is not a loopback address.
	Username string `yaml:"username"`
	Password string `yaml:"password"` // or IOC_BROKER_PASSWORD_FILE
}

// Collector configures one collector.
type Collector struct {
	Name         string        `yaml:"name"`
	Type         string        `yaml:"type"`   // mqtt
	Broker       string        `yaml:"broker"` // "embedded" or tcp://host:port, ssl://host:port
	ClientID     string        `yaml:"client_id"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`  // or IOC_COLLECTORS_<i>_PASSWORD_FILE
	CAFile       string        `yaml:"ca_file"`   // PEM CAs trusted for ssl:// brokers (default: the system's)
	CertFile     string        `yaml:"cert_file"` // PEM client certificate for brokers that want one
	KeyFile      string        `yaml:"key_file"`
	QoS          int           `yaml:"qos"`
	CleanSession bool          `yaml:"clean_session"`
	Ack          string        `yaml:"ack"`         // after_store | on_receive
	MaxPayload   int           `yaml:"max_payload"` // bytes
	KeepAlive    time.Duration `yaml:"keep_alive"`
	// ReadyGrace is how long the collector may be disconnected, after it received, before /readyz says
	// not ready (unset: 30s). Before its first subscription /readyz is not ready at once.
	ReadyGrace time.Duration `yaml:"ready_grace"`
	Topics     []Topic       `yaml:"topics"`
}

// Topic maps an MQTT topic filter to a payload format.
type Topic struct {
	Filter string `yaml:"filter"`
	Format string `yaml:"format"` // thingsboard | thingsboard_gateway | senml
}

// Pipeline sizes the event pipeline.
type Pipeline struct {
	QueueSize     int           `yaml:"queue_size"`
	OnFull        string        `yaml:"on_full"` // block | drop
	MaxFuture     time.Duration `yaml:"max_future"`
	SinkQueueSize int           `yaml:"sink_queue_size"`
	SinkBatch     int           `yaml:"sink_batch"`
	FlushInterval time.Duration `yaml:"flush_interval"`
}

// Store configures the embedded store.
type Store struct {
	Type string `yaml:"type"` // sqlite
	Path string `yaml:"path"`
}

// Influx stores readings and event history in InfluxDB (1.8+, 2.x, 3.x) instead of the embedded store,
// which keeps entity state and events; disabled by default.
type Influx struct {
	Enabled       bool `yaml:"enabled"`
	influx.Config `yaml:",inline"`
}

// Devices configures the device registry.
type Devices struct {
	File         string `yaml:"file"` // YAML list of devices; empty for none
	AutoRegister bool   `yaml:"auto_register"`
	// MaxIDLength bounds the id of an auto-registered device (bytes); ids are also limited to
	// registry.IDCharset. Listed and known devices are never refused.
	MaxIDLength int `yaml:"max_id_length"`
	// MaxAutoRegistered caps the auto-registered devices in total, MaxAutoRegisteredPerSource those of
	// one collector; 0 is no cap. A reading of a refused device is rejected with the reason.
	MaxAutoRegistered          int `yaml:"max_auto_registered"`
	MaxAutoRegisteredPerSource int `yaml:"max_auto_registered_per_source"`
}

// Live configures the websocket live hub.
type Live struct {
	PingInterval  time.Duration `yaml:"ping_interval"`
	WriteTimeout  time.Duration `yaml:"write_timeout"`
	MaxMessage    int64         `yaml:"max_message"`    // largest frame accepted from a browser, bytes
	MaxPending    int           `yaml:"max_pending"`    // entities waiting per slow client before it is cut off
	FlushInterval time.Duration `yaml:"flush_interval"` // longest a coalesced update waits
}

// Web configures the embedded web pages and the KPI screen.
type Web struct {
	// TileURL is a raster tile template on the closed network ("https://tiles.example.vn/{z}/{x}/{y}.png");
	// empty draws the admin boundaries as vector layers instead of a base map.
	TileURL         string        `yaml:"tile_url"`
	TileAttribution string        `yaml:"tile_attribution"`
	OnlineWindow    time.Duration `yaml:"online_window"` // a sensor that reported within this is online (KPI)
}

// Geo configures admin areas (event enrichment, area routes), geofences and live-map clustering.
type Geo struct {
	// BoundarySets are the admin boundaries with their validity: each event is enriched with the set in
	// force at its own time (docs/GEO.md). Reloaded on SIGHUP and POST /api/v1/admin/areas/reload.
	BoundarySets []BoundarySet `yaml:"boundary_sets"`
	// AdminFiles is the shorthand for one set valid at all times: GeoJSON FeatureCollections of admin
	// areas (properties code, name, level, parent); several provinces may be loaded together. When set,
	// it replaces the default boundary_sets; setting both to your own values is an error.
	AdminFiles []string `yaml:"admin_files"`
	// OverlapTolerance is how deep (metres) two units of one level may overlap before a file is refused
	// (simplified borders overlap by a few metres); a negative value turns the check off.
	OverlapTolerance float64       `yaml:"overlap_tolerance"`
	ClusterBelowZoom int           `yaml:"cluster_below_zoom"` // live views below this zoom get server-side clusters
	ClusterInterval  time.Duration `yaml:"cluster_interval"`   // how often a clustered view is refreshed at most
	MaxViewItems     int           `yaml:"max_view_items"`     // a view holding more entities is clustered whatever its zoom
	FenceQueue       int           `yaml:"fence_queue"`        // geofence detections waiting for the pipeline; drops beyond are counted
	Geofences        []Geofence    `yaml:"geofences"`
}

// BoundarySet is one set of admin boundaries and its validity [effective_from, effective_to), RFC 3339
// times with their offset. effective_from may be left out on the earliest set (since ever) and
// effective_to on any set (until the next one starts). Crosswalk is a CSV mapping the previous set's
// codes to this set's (crosswalk-2025.csv's columns).
type BoundarySet struct {
	Name          string    `yaml:"name"`
	Files         []string  `yaml:"files"`
	EffectiveFrom time.Time `yaml:"effective_from"`
	EffectiveTo   time.Time `yaml:"effective_to"`
	Crosswalk     string    `yaml:"crosswalk"`
}

// reform2025 is when the two-level administration took effect (1 July 2025, Vietnam time).
var reform2025 = time.Date(2025, 7, 1, 0, 0, 0, 0, time.FixedZone("", 7*3600)) // as YAML reads +07:00

// defaultBoundarySets are the demo province's: the new Tỉnh Vĩnh Long (86) with its communes from
// 1 July 2025, the old Bến Tre (83) with its districts before, and the crosswalk between them.
func defaultBoundarySets() []BoundarySet {
	return []BoundarySet{
		{Name: "ben-tre-2024", Files: []string{"configs/admin/83.geojson"}, EffectiveTo: reform2025},
		{Name: "vinh-long-2025", Files: []string{"configs/admin/86-2025.geojson"}, EffectiveFrom: reform2025,
			Crosswalk: "configs/admin/crosswalk-2025-86.csv"},
	}
}

// Specs are the boundary sets to load: admin_files as one set valid at all times when given, else
// boundary_sets.
func (g Geo) Specs() []geo.SetSpec {
	if len(g.AdminFiles) > 0 {
		return []geo.SetSpec{{Name: "admin_files", Files: g.AdminFiles}}
	}
	out := make([]geo.SetSpec, len(g.BoundarySets))
	for i, b := range g.BoundarySets {
		out[i] = geo.SetSpec{Name: b.Name, Files: b.Files, From: b.EffectiveFrom, To: b.EffectiveTo, Crosswalk: b.Crosswalk}
	}
	return out
}

// Geofence is a named polygon watched for entities entering, leaving or staying inside it.
type Geofence struct {
	ID      string       `yaml:"id"`
	Name    string       `yaml:"name"`
	Detect  []string     `yaml:"detect"`  // enter | exit | inside; empty: enter and exit
	Kinds   []string     `yaml:"kinds"`   // entity kinds watched; empty: all
	Polygon [][2]float64 `yaml:"polygon"` // closed ring of [lon, lat]
}

// Demo runs the built-in Tỉnh Vĩnh Long simulator inside ioc serve.
type Demo struct {
	Enabled  bool          `yaml:"enabled"`
	Devices  int           `yaml:"devices"`
	Interval time.Duration `yaml:"interval"`
	Seed     int64         `yaml:"seed"`
	Cameras  int           `yaml:"cameras"` // Frigate cameras in the demo (needs frigate.enabled)
	// HistoryFrom, when set, makes the feed first publish one reading per device every HistoryStep from
	// then until now, so statistics reach back across the 2025 boundary change.
	HistoryFrom time.Time     `yaml:"history_from"`
	HistoryStep time.Duration `yaml:"history_step"`
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout"`
}

// defaultCollector is the embedded-broker telemetry collector ioc runs without a file, and the
// defaults of every entry of a configured collectors list (each key it leaves out has this value).
func defaultCollector() Collector {
	return Collector{
		Name: "telemetry", Type: "mqtt", Broker: "embedded", ClientID: "ioc-telemetry", QoS: 1,
		Ack: "after_store", MaxPayload: 64 << 10, KeepAlive: 30 * time.Second, ReadyGrace: 30 * time.Second,
		Topics: []Topic{
			{Filter: "ioc/devices/+/telemetry", Format: "thingsboard"},
			{Filter: "v1/gateway/telemetry", Format: "thingsboard_gateway"},
			{Filter: "ioc/senml/#", Format: "senml"},
		},
	}
}

// Default returns the configuration ioc runs with when no file is given.
func Default() Config {
	return Config{
		Log:        Log{Level: "info", Format: "text"},
		HTTP:       HTTP{Addr: ":8080", MaxBody: 1 << 20},
		Broker:     Broker{Enabled: true, Listen: "127.0.0.1:1883", OnTaken: "fail", MaxInflight: 4096},
		Collectors: []Collector{defaultCollector()},
		Pipeline: Pipeline{QueueSize: 8192, OnFull: "block", MaxFuture: time.Hour, SinkQueueSize: 8192,
			SinkBatch: 2000, FlushInterval: 20 * time.Millisecond},
		Store:     Store{Type: "sqlite", Path: "data/ioc.db"},
		Influx:    Influx{Config: influx.Defaults()},
		Devices:   Devices{AutoRegister: true, MaxIDLength: 128, MaxAutoRegistered: 200000, MaxAutoRegisteredPerSource: 150000},
		Live:      Live{PingInterval: 25 * time.Second, WriteTimeout: 10 * time.Second, MaxMessage: 16 << 10, MaxPending: 200000, FlushInterval: 50 * time.Millisecond},
		Geo:       Geo{BoundarySets: defaultBoundarySets(), OverlapTolerance: geo.DefaultOverlapTolerance, ClusterBelowZoom: 13, ClusterInterval: time.Second, MaxViewItems: 20000, FenceQueue: 4096},
		Web:       Web{OnlineWindow: 15 * time.Minute},
		Demo:      Demo{Devices: 300, Interval: 5 * time.Second, Seed: 83, Cameras: 30, HistoryStep: 7 * 24 * time.Hour},
		Frigate:   Frigate{Config: withBroker(frigate.Defaults())},
		Hikvision: Hikvision{Config: hikvision.Defaults()},
		ONVIF:     ONVIF{Config: onvif.Defaults()},
		Webhook:   Webhook{Config: webhook.Defaults()},
		Liveness:  CameraLiveness{OfflineAfter: 5 * time.Minute, CheckEvery: 30 * time.Second},
		Alarm:     alarm.Defaults(),
		Reports:   report.Defaults(),
		Cluster:   Cluster{Bucket: "ioc_state"},
		Shutdown:  Shutdown{Timeout: 15 * time.Second},
		Auth:      auth.Defaults(),
		Admin:     Admin{User: "admin"},

		Indicators: indicator.Defaults(),
		Briefings:  briefing.Defaults(),
	}
}

// Load reads a YAML file over the defaults (an empty path means defaults only), then applies environment
// overrides from env (normally os.Environ()).
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := decode(data, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, fmt.Errorf("environment: %w", err)
	}
	return cfg, nil
}

// decode parses YAML strictly: unknown keys are errors, so a typo never silently falls back to a default.
func decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return collectorDefaults(data, cfg)
}

// collectorDefaults decodes each entry of a configured collectors list again over defaultCollector,
// so that an entry sets only what differs (YAML decoding starts list elements from zero values). The
// strict first pass has already refused unknown keys.
func collectorDefaults(data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return err
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "collectors" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, entry := range root.Content[i+1].Content {
			c := defaultCollector()
			c.Name, c.ClientID, c.Topics = "", "", nil // identity and topics are each entry's own
			if err := entry.Decode(&c); err != nil {
				return fmt.Errorf("collectors[%d]: %w", j, err)
			}
			cfg.Collectors[j] = c
		}
	}
	return nil
}

// Validate reports every problem with its key path.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	oneOf(add, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(add, "log.format", c.Log.Format, "text", "json")
	if c.HTTP.Addr == "" {
		add("http.addr", "must be set (for example \":8080\")")
	}
	if c.HTTP.MaxBody <= 0 {
		add("http.max_body", "must be positive")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		add("http.tls_cert", "tls_cert and tls_key must be set together")
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := auth.ParseProxy(p); err != nil {
			add(fmt.Sprintf("http.trusted_proxies[%d]", i), "%v", err)
		}
	}
	nested(add, "auth", c.Auth.Validate())
	if err := c.Indicators.Validate("indicators"); err != nil {
		errs = append(errs, err) // already with its key paths
	}
	if err := c.Briefings.Validate("briefings", nil); err != nil { // trend codes are checked at start
		errs = append(errs, err)
	}
	if c.Admin.User != "" {
		if err := (auth.User{Name: c.Admin.User, Role: auth.RoleAdmin}).Check(); err != nil {
			add("admin.user", "%v", err)
		}
	}
	if c.Admin.Password != "" {
		if err := auth.CheckPassword(c.Admin.Password); err != nil {
			add("admin.password", "%v", err)
		}
	}
	if c.Admin.Token != "" && (!strings.HasPrefix(c.Admin.Token, "ioc_") || len(c.Admin.Token) < 24) {
		add("admin.token", "must start with \"ioc_\" and be at least 24 characters")
	}
	if c.Broker.Enabled {
		if c.Broker.Listen == "" {
			add("broker.listen", "must be set when the embedded broker is enabled")
		}
		oneOf(add, "broker.on_taken", c.Broker.OnTaken, "fail", "next_free")
		if c.Broker.MaxInflight < 16 || c.Broker.MaxInflight > 60000 {
			add("broker.max_inflight", "must be between 16 and 60000")
		}
		if (c.Broker.Username == "") != (c.Broker.Password == "") {
			add("broker.username", "username and password must be set together")
		} else if c.Broker.Username == "" && !loopback(c.Broker.Listen) {
			add("broker.listen", "%q is reachable beyond this machine: set broker.username and broker.password (IOC_BROKER_PASSWORD_FILE)", c.Broker.Listen)
		}
	}
	names := map[string]bool{}
	for i, col := range c.Collectors {
		p := fmt.Sprintf("collectors[%d]", i)
		if col.Name != "" {
			p += " (" + col.Name + ")"
		}
		if col.Name == "" {
			add(p+".name", "must be set")
		} else if names[col.Name] {
			add(p+".name", "duplicate collector name %q", col.Name)
		}
		names[col.Name] = true
		oneOf(add, p+".type", col.Type, "mqtt")
		switch {
		case col.Broker == "":
			add(p+".broker", "must be \"embedded\" or a URL like tcp://host:1883")
		case col.Broker == "embedded":
			if !c.Broker.Enabled {
				add(p+".broker", "is \"embedded\" but broker.enabled is false")
			}
		case !strings.HasPrefix(col.Broker, "tcp://") && !strings.HasPrefix(col.Broker, "ssl://") &&
			!strings.HasPrefix(col.Broker, "tls://") && !strings.HasPrefix(col.Broker, "mqtt://") &&
			!strings.HasPrefix(col.Broker, "mqtts://") && !strings.HasPrefix(col.Broker, "ws://"):
			add(p+".broker", "%q is not \"embedded\" nor a tcp://, ssl://, mqtt:// or ws:// URL", col.Broker)
		}
		if col.ClientID == "" {
			add(p+".client_id", "must be set (a durable session needs a stable client id)")
		}
		if (col.CertFile == "") != (col.KeyFile == "") {
			add(p+".cert_file", "cert_file and key_file must be set together")
		}
		if col.QoS < 0 || col.QoS > 2 {
			add(p+".qos", "must be 0, 1 or 2")
		}
		oneOf(add, p+".ack", col.Ack, "after_store", "on_receive")
		if col.MaxPayload <= 0 || col.MaxPayload > 16<<20 {
			add(p+".max_payload", "must be between 1 and 16777216 bytes")
		}
		if col.KeepAlive < time.Second {
			add(p+".keep_alive", "must be at least 1s")
		}
		if col.ReadyGrace < 0 {
			add(p+".ready_grace", "must not be negative")
		}
		if len(col.Topics) == 0 {
			add(p+".topics", "must list at least one topic")
		}
		for j, t := range col.Topics {
			tp := fmt.Sprintf("%s.topics[%d]", p, j)
			if t.Filter == "" {
				add(tp+".filter", "must be set")
			} else if err := checkFilter(strings.TrimPrefix(t.Filter, "$share/")); err != nil {
				add(tp+".filter", "%v", err)
			}
			oneOf(add, tp+".format", t.Format, "thingsboard", "thingsboard_gateway", "senml")
		}
	}
	if c.Liveness.OfflineAfter < time.Second {
		add("camera_liveness.offline_after", "must be at least 1s")
	}
	if c.Liveness.CheckEvery < 100*time.Millisecond || c.Liveness.CheckEvery > c.Liveness.OfflineAfter {
		add("camera_liveness.check_every", "must be at least 100ms and not above offline_after")
	}
	if c.Devices.MaxIDLength < 1 || c.Devices.MaxIDLength > 1024 {
		add("devices.max_id_length", "must be between 1 and 1024")
	}
	if c.Devices.MaxAutoRegistered < 0 {
		add("devices.max_auto_registered", "must not be negative (0: no cap)")
	}
	if c.Devices.MaxAutoRegisteredPerSource < 0 {
		add("devices.max_auto_registered_per_source", "must not be negative (0: no cap)")
	}
	pl := c.Pipeline
	positive(add, "pipeline.queue_size", pl.QueueSize)
	positive(add, "pipeline.sink_queue_size", pl.SinkQueueSize)
	positive(add, "pipeline.sink_batch", pl.SinkBatch)
	oneOf(add, "pipeline.on_full", pl.OnFull, "block", "drop")
	if pl.MaxFuture < 0 {
		add("pipeline.max_future", "must not be negative")
	}
	if pl.FlushInterval <= 0 {
		add("pipeline.flush_interval", "must be positive")
	}
	oneOf(add, "store.type", c.Store.Type, "sqlite")
	if c.Store.Path == "" {
		add("store.path", "must be set")
	}
	if c.Influx.Enabled {
		nested(add, "influx", c.Influx.Validate())
	}
	if c.Live.PingInterval < time.Second {
		add("live.ping_interval", "must be at least 1s")
	}
	if c.Live.WriteTimeout < time.Second {
		add("live.write_timeout", "must be at least 1s")
	}
	if c.Live.MaxMessage < 512 {
		add("live.max_message", "must be at least 512 bytes")
	}
	positive(add, "live.max_pending", c.Live.MaxPending)
	if u := c.Web.TileURL; u != "" && (!strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "/") ||
		!strings.Contains(u, "{z}") || !strings.Contains(u, "{x}") || !strings.Contains(u, "{y}")) {
		add("web.tile_url", "must be an http(s) URL or a path with {z}, {x} and {y}")
	}
	if c.Web.OnlineWindow < time.Second {
		add("web.online_window", "must be at least 1s")
	}
	if c.Live.FlushInterval <= 0 {
		add("live.flush_interval", "must be positive")
	}
	validateGeo(add, c.Geo)
	if c.Demo.Enabled {
		if c.Demo.Devices < 1 || c.Demo.Devices > 100000 {
			add("demo.devices", "must be between 1 and 100000")
		}
		if c.Demo.Interval < 100*time.Millisecond {
			add("demo.interval", "must be at least 100ms")
		}
		if !c.Demo.HistoryFrom.IsZero() && c.Demo.HistoryStep < time.Hour {
			add("demo.history_step", "must be at least 1h when demo.history_from is set")
		}
		if !c.Broker.Enabled {
			add("demo.enabled", "the demo feed publishes to the embedded broker: set broker.enabled")
		}
	}
	if c.Cluster.NATSURL != "" {
		if c.Cluster.NodeID == "" {
			add("cluster.node_id", "must be set when cluster.nats_url is (unique per node)")
		}
		if !strings.HasPrefix(c.Cluster.NATSURL, "nats://") && !strings.HasPrefix(c.Cluster.NATSURL, "tls://") {
			add("cluster.nats_url", "%q is not a nats:// or tls:// URL", c.Cluster.NATSURL)
		}
		if c.Cluster.Bucket == "" {
			add("cluster.bucket", "must be set")
		}
	}
	if len(c.Cameras) > 0 {
		nested(add, "cameras", camera.Validate(c.Cameras))
	}
	if c.Frigate.Enabled {
		fc := c.Frigate.Config
		if fc.Broker == "embedded" {
			if !c.Broker.Enabled {
				add("frigate.broker", "is \"embedded\" but broker.enabled is false")
			}
			fc.Broker = "tcp://127.0.0.1:1883" // resolved at start
		}
		nested(add, "frigate", fc.Validate())
	}
	if c.Hikvision.Enabled {
		nested(add, "hikvision", c.Hikvision.Validate())
	}
	if c.ONVIF.Enabled {
		nested(add, "onvif", c.ONVIF.Validate())
	}
	if c.Webhook.Enabled {
		nested(add, "webhook", c.Webhook.Validate())
	}
	nested(add, "alarm", c.Alarm.Validate())
	reports := c.Reports
	if reports.FormSecret == "" {
		reports.FormSecret = strings.Repeat("x", 32) // generated at start (app) when not configured
	}
	nested(add, "reports", reports.Validate())
	if c.Shutdown.Timeout <= 0 {
		add("shutdown.timeout", "must be positive")
	}
	return errors.Join(errs...)
}

// loopback reports whether a listen address only accepts connections from this machine.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func oneOf(add func(string, string, ...any), path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func withBroker(c frigate.Config) frigate.Config {
	c.Broker = "embedded"
	return c
}

// nested reports a component's own validation errors under its config key.
func nested(add func(string, string, ...any), key string, err error) {
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			add(key, "%s", line)
		}
	}
}

func positive(add func(string, string, ...any), path string, v int) {
	if v <= 0 {
		add(path, "must be positive")
	}
}

// checkFilter checks an MQTT topic filter's wildcards.
func checkFilter(f string) error {
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%q: '#' must be a whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%q: '+' must be a whole level", f)
		}
	}
	return nil
}

func validateGeo(add func(string, string, ...any), g Geo) {
	for i, f := range g.AdminFiles {
		if f == "" {
			add(fmt.Sprintf("geo.admin_files[%d]", i), "must not be empty")
		}
	}
	if len(g.AdminFiles) > 0 && !reflect.DeepEqual(g.BoundarySets, defaultBoundarySets()) {
		add("geo.admin_files", "set admin_files (one set valid at all times) or boundary_sets, not both")
	}
	if len(g.AdminFiles) == 0 {
		if len(g.BoundarySets) == 0 {
			add("geo.boundary_sets", "must list at least one set (or set geo.admin_files)")
		}
		for i, b := range g.BoundarySets {
			p := fmt.Sprintf("geo.boundary_sets[%d]", i)
			if b.Name != "" {
				p += " (" + b.Name + ")"
			}
			if len(b.Files) == 0 {
				add(p+".files", "must list at least one GeoJSON file")
			}
			for j, f := range b.Files {
				if f == "" {
					add(fmt.Sprintf("%s.files[%d]", p, j), "must not be empty")
				}
			}
		}
		for _, err := range geo.CheckSpecs(g.Specs()) {
			add("geo.boundary_sets", "%v", err)
		}
	}
	if math.IsNaN(g.OverlapTolerance) || math.IsInf(g.OverlapTolerance, 0) {
		add("geo.overlap_tolerance", "must be a number of metres")
	}
	if g.ClusterBelowZoom < 0 || g.ClusterBelowZoom > 24 {
		add("geo.cluster_below_zoom", "must be between 0 (never cluster) and 24")
	}
	if g.ClusterInterval < 100*time.Millisecond {
		add("geo.cluster_interval", "must be at least 100ms")
	}
	positive(add, "geo.max_view_items", g.MaxViewItems)
	positive(add, "geo.fence_queue", g.FenceQueue)
	seen := map[string]bool{}
	for i, f := range g.Geofences {
		p := fmt.Sprintf("geo.geofences[%d]", i)
		if f.ID != "" {
			p += " (" + f.ID + ")"
			if seen[f.ID] {
				add(p+".id", "duplicate geofence id %q", f.ID)
			}
			seen[f.ID] = true
		}
		nested(add, p, f.Fence().Check())
	}
}

// Fence converts the configured geofence.
func (f Geofence) Fence() geo.Fence {
	ring := make(orb.Ring, len(f.Polygon))
	for i, p := range f.Polygon {
		ring[i] = orb.Point(p)
	}
	return geo.Fence{ID: f.ID, Name: f.Name, Detect: f.Detect, Kinds: f.Kinds, Geom: orb.MultiPolygon{{ring}}}
}
