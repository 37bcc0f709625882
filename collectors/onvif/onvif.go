// Package onvif collects events from ONVIF devices through the Events service PullPoint interface:
// CreatePullPointSubscription, then a PullMessages loop, renewing the subscription before it
// terminates, authenticated with a WS-Security UsernameToken (PasswordDigest).
package onvif

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the ONVIF collector.
type Config struct {
	Name             string         `yaml:"name"`              // collector name, the events' Source
	Devices          []DeviceConfig `yaml:"devices"`           //
	SubscriptionTime time.Duration  `yaml:"subscription_time"` // InitialTerminationTime and Renew duration
	RenewBefore      time.Duration  `yaml:"renew_before"`      // renew when less than this is left
	PullTimeout      time.Duration  `yaml:"pull_timeout"`      // PullMessages long-poll Timeout
	MessageLimit     int            `yaml:"message_limit"`     // PullMessages MessageLimit
	HTTPTimeout      time.Duration  `yaml:"http_timeout"`      // per request, on top of pull_timeout for pulls
	ReconnectMin     time.Duration  `yaml:"reconnect_min"`     //
	ReconnectMax     time.Duration  `yaml:"reconnect_max"`     //
	CollapseWindow   time.Duration  `yaml:"collapse_window"`   // 0 disables repeat collapsing
}

// DeviceConfig is one device to subscribe to.
type DeviceConfig struct {
	URL       string `yaml:"url"`        // device service URL, http://10.0.0.5/onvif/device_service (the camera identity)
	EventsURL string `yaml:"events_url"` // events service XAddr; empty: asked with GetCapabilities
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// Defaults returns the configuration defaults.
func Defaults() Config {
	return Config{Name: "onvif", SubscriptionTime: time.Minute, RenewBefore: 15 * time.Second, PullTimeout: 10 * time.Second,
		MessageLimit: 100, HTTPTimeout: 10 * time.Second, ReconnectMin: time.Second, ReconnectMax: time.Minute, CollapseWindow: 10 * time.Second}
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
	if c.SubscriptionTime < 10*time.Second {
		bad("subscription_time", "must be at least 10s")
	}
	if c.RenewBefore <= 0 || c.RenewBefore >= c.SubscriptionTime {
		bad("renew_before", "must be positive and below subscription_time")
	}
	if c.PullTimeout <= 0 || c.PullTimeout >= c.SubscriptionTime-c.RenewBefore {
		bad("pull_timeout", "must be positive and shorter than subscription_time - renew_before")
	}
	if c.MessageLimit <= 0 || c.MessageLimit > 1000 {
		bad("message_limit", "must be in [1, 1000]")
	}
	if c.HTTPTimeout <= 0 {
		bad("http_timeout", "must be positive")
	}
	if c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin {
		bad("reconnect_min", "must be positive and not above reconnect_max")
	}
	if c.CollapseWindow < 0 {
		bad("collapse_window", "must not be negative")
	}
	seen := map[string]bool{}
	for i, d := range c.Devices {
		p := fmt.Sprintf("devices[%d]", i)
		if !httpURL(d.URL) {
			bad(p+".url", "must be the device service http(s) URL, got %q", d.URL)
		}
		if seen[d.URL] {
			bad(p+".url", "duplicate device")
		}
		seen[d.URL] = true
		if d.EventsURL != "" && !httpURL(d.EventsURL) {
			bad(p+".events_url", "must be an http(s) URL, got %q", d.EventsURL)
		}
		if d.Username == "" && d.Password != "" {
			bad(p+".username", "is required with a password")
		}
	}
	return errors.Join(errs...)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Collector subscribes to every configured device and emits camera events.
type Collector struct {
	cfg     Config
	cams    *camera.Registry
	log     *slog.Logger
	m       *camera.Metrics
	faults  *prometheus.CounterVec
	collect *camera.Collapser
	now     func() time.Time
	http    *http.Client

	mu     sync.Mutex // guards active
	active map[string]time.Time
}

var _ stream.Collector = (*Collector)(nil)

// New builds an ONVIF collector.
func New(cfg Config, cams *camera.Registry, log *slog.Logger, reg prometheus.Registerer) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("onvif: %w", err)
	}
	m, err := camera.NewMetrics(reg, "onvif")
	if err != nil {
		return nil, err
	}
	faults := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_onvif_soap_faults_total",
		Help: "SOAP faults returned by ONVIF devices, by operation."}, []string{"op"})
	if reg != nil {
		if err := reg.Register(faults); err != nil {
			return nil, fmt.Errorf("register onvif metrics: %w", err)
		}
	}
	return &Collector{cfg: cfg, cams: cams, log: log.With("component", "onvif", "collector", cfg.Name), m: m, faults: faults,
		collect: camera.NewCollapser(cfg.CollapseWindow), now: time.Now, http: &http.Client{}, active: map[string]time.Time{}}, nil
}

// Run keeps a subscription to every device until ctx ends. Failures (network, SOAP faults, bad
// responses) are logged and counted and the device is resubscribed with backoff; Run itself only
// returns when ctx ends.
func (c *Collector) Run(ctx context.Context, emit stream.Emit) error {
	var wg sync.WaitGroup
	for _, d := range c.cfg.Devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.device(ctx, emit, d)
		}()
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			c.emit(ctx, emit, c.collect.Flush(c.now()))
		}
	}
}

func (c *Collector) emit(ctx context.Context, emit stream.Emit, evs []stream.Event) {
	if len(evs) == 0 {
		return
	}
	if err := emit(ctx, stream.Batch{Events: evs}); err != nil {
		c.log.Warn("emit failed", "error", err)
		return
	}
	c.m.Emitted.Add(float64(len(evs)))
}

// device runs subscribe-and-pull sessions for one device, with backoff between them.
func (c *Collector) device(ctx context.Context, emit stream.Emit, d DeviceConfig) {
	camera.Reconnect(ctx, c.log.With("device", d.URL), c.m, c.cfg.ReconnectMin, c.cfg.ReconnectMax,
		func(ctx context.Context) (bool, error) { return c.session(ctx, emit, d) })
}

// op runs one SOAP call with a timeout and counts faults by operation.
func (c *Collector) op(ctx context.Context, sc *soapClient, name, url, action, body string, secure bool, extra time.Duration) (*envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HTTPTimeout+extra)
	defer cancel()
	env, err := sc.call(ctx, url, action, body, secure)
	var f *Fault
	switch {
	case errors.As(err, &f):
		c.faults.WithLabelValues(name).Inc()
	case err != nil && stream.ReasonOf(err) != "other":
		c.m.DecodeErrors.WithLabelValues(stream.ReasonOf(err)).Inc()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return env, nil
}

// session subscribes once and pulls until an error or ctx ends; pulled says whether any pull
// succeeded.
func (c *Collector) session(ctx context.Context, emit stream.Emit, d DeviceConfig) (pulled bool, err error) {
	sc := &soapClient{http: c.http, user: d.Username, pass: d.Password, now: c.now}
	// The device's clock stamps our UsernameToken checks: learn its offset first (unauthenticated).
	if env, err := c.op(ctx, sc, "get_system_date_and_time", d.URL, actionDateTime, `<tds:GetSystemDateAndTime xmlns:tds="`+nsDevice+`"/>`, false, 0); err == nil && env.Body.DateTime != nil {
		dt := env.Body.DateTime
		dev := time.Date(dt.Date.Year, time.Month(dt.Date.Month), dt.Date.Day, dt.Time.Hour, dt.Time.Minute, dt.Time.Second, 0, time.UTC)
		sc.offset = dev.Sub(c.now())
	}
	events := d.EventsURL
	if events == "" {
		env, err := c.op(ctx, sc, "get_capabilities", d.URL, actionCaps,
			`<tds:GetCapabilities xmlns:tds="`+nsDevice+`"><tds:Category>Events</tds:Category></tds:GetCapabilities>`, true, 0)
		if err != nil {
			return false, err
		}
		if env.Body.EventsXAddr == nil || !httpURL(strings.TrimSpace(*env.Body.EventsXAddr)) {
			return false, errors.New("get_capabilities: no events XAddr")
		}
		events = strings.TrimSpace(*env.Body.EventsXAddr)
	}
	env, err := c.op(ctx, sc, "create_pull_point_subscription", events, actionCreate,
		`<tev:CreatePullPointSubscription xmlns:tev="`+nsEvents+`"><tev:InitialTerminationTime>`+xsDuration(c.cfg.SubscriptionTime)+`</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`, true, 0)
	if err != nil {
		return false, err
	}
	cr := env.Body.Create
	if cr == nil || !httpURL(strings.TrimSpace(cr.Address)) {
		return false, errors.New("create_pull_point_subscription: no subscription address")
	}
	sub := strings.TrimSpace(cr.Address)
	deadline, err := c.deadline(cr.CurrentTime, cr.TerminationTime)
	if err != nil {
		return false, fmt.Errorf("create_pull_point_subscription: %w", err)
	}
	defer c.unsubscribe(sc, sub)
	pull := `<tev:PullMessages xmlns:tev="` + nsEvents + `"><tev:Timeout>` + xsDuration(c.cfg.PullTimeout) + `</tev:Timeout><tev:MessageLimit>` +
		fmt.Sprint(c.cfg.MessageLimit) + `</tev:MessageLimit></tev:PullMessages>`
	for ctx.Err() == nil {
		if deadline.Sub(c.now()) < c.cfg.RenewBefore {
			env, err := c.op(ctx, sc, "renew", sub, actionRenew,
				`<wsnt:Renew xmlns:wsnt="`+nsWSNT+`"><wsnt:TerminationTime>`+xsDuration(c.cfg.SubscriptionTime)+`</wsnt:TerminationTime></wsnt:Renew>`, true, 0)
			if err != nil {
				return pulled, err
			}
			if env.Body.Renew == nil {
				return pulled, errors.New("renew: no RenewResponse")
			}
			if deadline, err = c.deadline(env.Body.Renew.CurrentTime, env.Body.Renew.TerminationTime); err != nil {
				return pulled, fmt.Errorf("renew: %w", err)
			}
		}
		env, err := c.op(ctx, sc, "pull_messages", sub, actionPull, pull, true, c.cfg.PullTimeout)
		if err != nil {
			return pulled, err
		}
		p := env.Body.Pull
		if p == nil {
			return pulled, errors.New("pull_messages: no PullMessagesResponse")
		}
		pulled = true
		if p.TerminationTime != "" {
			if dl, err := c.deadline(p.CurrentTime, p.TerminationTime); err == nil {
				deadline = dl
			}
		}
		c.m.Received.Add(float64(len(p.Messages)))
		c.emit(ctx, emit, c.events(d.URL, p.Messages))
	}
	return pulled, nil
}

// deadline turns a device's (current, termination) pair into a local time, immune to clock skew.
func (c *Collector) deadline(current, termination string) (time.Time, error) {
	term, err := parseTime(termination)
	if err != nil {
		return time.Time{}, err
	}
	cur := c.now()
	if current != "" {
		if cur, err = parseTime(current); err != nil {
			return time.Time{}, err
		}
	}
	return c.now().Add(term.Sub(cur)), nil
}

// unsubscribe releases the subscription, best effort, even after ctx ended.
func (c *Collector) unsubscribe(sc *soapClient, sub string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := sc.call(ctx, sub, actionUnsub, `<wsnt:Unsubscribe xmlns:wsnt="`+nsWSNT+`"/>`, true); err != nil {
		c.log.Debug("unsubscribe failed", "subscription", sub, "error", err)
	}
}
