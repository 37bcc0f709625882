package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/collectors/frigate"
	"github.com/ioc-vn/ioc/collectors/hikvision"
	"github.com/ioc-vn/ioc/collectors/onvif"
	"github.com/ioc-vn/ioc/collectors/webhook"
	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/kpi"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/simulate"
	"github.com/ioc-vn/ioc/stream"
)

// startAlarms opens the alarm store and builds the engine (a pipeline stage and a source of alarm
// change events).
func (a *App) startAlarms(ctx context.Context, reg prometheus.Registerer, checks map[string]stream.Checker) error {
	sc := a.cfg.Alarm.Store
	var err error
	if sc.Type == "postgres" {
		a.alarmStore, err = alarm.OpenPostgres(ctx, sc.DSN)
	} else {
		if err := os.MkdirAll(filepath.Dir(sc.Path), privateDir); err != nil {
			return fmt.Errorf("alarm store: %w", err)
		}
		a.alarmStore, err = alarm.OpenSQLite(ctx, sc.Path)
	}
	if err != nil {
		return fmt.Errorf("alarm store: %w", err)
	}
	a.closers = append(a.closers, a.alarmStore.Close)
	checks["alarms"] = a.alarmStore
	a.Alarms, err = alarm.New(ctx, withSpoolRule(a.cfg.Alarm, a.cfg.Influx.Enabled), a.alarmStore, alarm.Options{Log: a.log.With("component", "alarm"),
		Registerer: reg, Metadata: func(id string) map[string]string {
			e, ok := a.Registry.Get(id)
			if !ok {
				return nil
			}
			return e.Meta
		}})
	if err != nil {
		return fmt.Errorf("alarm engine: %w", err)
	}
	a.alarmHTTP = alarm.NewHandler(a.Alarms, a.actor, a.log)
	return nil
}

// startReports opens the report store and builds the citizen report service. Report changes go into
// the pipeline through a feed, so they are stored, shown live and seen by alarm rules.
func (a *App) startReports(ctx context.Context, reg prometheus.Registerer, checks map[string]stream.Checker) error {
	rc := a.cfg.Reports
	if rc.FormSecret == "" {
		secret, err := loadOrCreateSecret(filepath.Join(filepath.Dir(a.cfg.Store.Path), "form-secret"))
		if err != nil {
			return err
		}
		rc.FormSecret = secret
	}
	cat, err := report.LoadCatalogue(rc.Catalogue)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if rc.Store.Driver == report.DriverSQLite {
		if err := os.MkdirAll(filepath.Dir(rc.Store.Path), privateDir); err != nil {
			return fmt.Errorf("reports: %w", err)
		}
	}
	st, err := report.OpenStore(ctx, rc.Store)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	a.reportStore = st
	a.closers = append(a.closers, st.Close)
	if c, ok := st.(stream.Checker); ok {
		checks["reports"] = c
	}
	lim := photo.DefaultLimits()
	lim.MaxBytes = rc.MaxPhotoBytes
	a.feed = newFeed(4096, reg)
	a.Reports, err = report.New(rc, report.Deps{Store: st, Catalogue: cat,
		Photos:   &photo.Store{Blobs: &photo.Disk{Dir: rc.PhotoDir}, Limits: lim},
		OnChange: a.feed.push,
		Locate:   a.Geo.Codes,
		Place:    a.placeByName,
		Actor:    a.actor,
		Sees:     seesReport,
		SeesContact: func(r *http.Request) bool { // the intake role: the IOC's operators and admins
			p := auth.From(r.Context())
			return p != nil && (p.Role == auth.RoleAdmin || p.Role == auth.RoleOperator)
		},
		Log: a.log.With("component", "reports"), Registerer: reg})
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// seesReport reports whether the caller may open rep (GET /api/v1/reports/{id}): a report handler
// (admin, operator, unit staff) whose unit and area scope include it. Such staff may see its photos
// before it is public.
func seesReport(r *http.Request, rep report.Report) bool {
	p := auth.From(r.Context())
	if p == nil || !auth.Handlers.Allows(p) {
		return false
	}
	return !(p.Role == auth.RoleUnit && rep.Unit != p.Unit) && p.SeesArea(rep.Areas)
}

// mount adds the HTTP routes of the alarm and report components.
func (a *App) mount(mux *http.ServeMux) {
	for _, p := range []string{"/api/v1/alarms", "/api/v1/alarms/", "/api/v1/alarm-rules", "/api/v1/alarm-rules/"} {
		mux.Handle(p, a.alarmHTTP)
	}
	a.Reports.Register(mux)
	a.Indicators.Register(mux)
	a.Briefings.Register(mux)
	a.Auth.Register(mux, a.cfg.HTTP.TLSCert != "")
	mux.Handle("GET /api/v1/kpi", kpi.Handler(kpi.Deps{Reports: a.Reports, Alarms: a.alarmStore, Registry: a.Registry,
		AreaLevel: a.lowestLevel, OnlineWindow: a.cfg.Web.OnlineWindow, Location: dashboard.VietnamTime}, a.log))
	for pattern, h := range a.handlers {
		mux.Handle(pattern, h)
	}
}

// loadOrCreateSecret reads a secret file, creating it with 32 random bytes (hex) the first time.
func loadOrCreateSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	secret := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return secret, nil
}

// feed carries events produced by HTTP-side components into the pipeline: push never blocks (a full
// feed drops and counts), Run emits in order.
type feed struct {
	ch      chan stream.Event
	dropped prometheus.Counter
}

func newFeed(size int, reg prometheus.Registerer) *feed {
	f := &feed{ch: make(chan stream.Event, size), dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ioc_feed_dropped_total", Help: "Events from HTTP-side components dropped because the feed was full."})}
	if reg != nil {
		reg.MustRegister(f.dropped)
	}
	return f
}

func (f *feed) push(ev stream.Event) {
	select {
	case f.ch <- ev:
	default:
		f.dropped.Inc()
	}
}

// Run emits fed events until ctx ends.
func (f *feed) Run(ctx context.Context, emit stream.Emit) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-f.ch:
			if err := emit(ctx, stream.Batch{Events: []stream.Event{ev}}); err != nil && ctx.Err() == nil && !errors.Is(err, stream.ErrDropped) {
				return err
			}
		}
	}
}

// demoConfig is the demo feed's configuration.
func (a *App) demoConfig(opts Options) simulate.Config {
	c := simulate.Config{ClientID: "ioc-demo-feed", Devices: a.cfg.Demo.Devices, Interval: a.cfg.Demo.Interval,
		Seed: a.cfg.Demo.Seed, AdminFile: opts.AdminFile, HistoryFrom: a.cfg.Demo.HistoryFrom, HistoryStep: a.cfg.Demo.HistoryStep}
	if a.Broker != nil {
		c.Broker = a.Broker.URL()
	}
	if a.cfg.Frigate.Enabled {
		c.Cameras = a.cfg.Demo.Cameras
	}
	return c
}

// startCameras builds the camera registry and the enabled camera collectors; cameras are also map
// entities from the start.
func (a *App) startCameras(reg prometheus.Registerer, opts Options) error {
	list := append([]camera.Config(nil), a.cfg.Cameras...)
	if a.cfg.Demo.Enabled && a.cfg.Frigate.Enabled {
		sites, err := simulate.CameraSites(a.demoConfig(opts))
		if err != nil {
			return err
		}
		list = append(list, sites...)
	}
	cams, err := camera.NewRegistry(list, nil)
	if err != nil {
		return fmt.Errorf("cameras: %w", err)
	}
	mapCamera := func(c camera.Config) {
		a.Registry.Register(registry.Device{ID: c.ID, Name: c.Name, Kind: "camera", Type: stream.TypeCamera,
			Location: []float64{c.Location[0], c.Location[1]},
			Metadata: map[string]string{"source": c.Source.Kind, "heading": fmt.Sprint(c.Heading), "fov": fmt.Sprint(c.FOV)}})
	}
	for _, c := range list {
		mapCamera(c)
	}
	log := a.log
	// Cameras added by administrators are kept beside the embedded store and registered again at start.
	admin, err := camera.NewAdmin(cams, filepath.Join(filepath.Dir(a.cfg.Store.Path), "cameras.json"),
		a.cfg.Liveness.OfflineAfter, mapCamera, log)
	if err != nil {
		return err
	}
	admin.SetScope(a.cameraScope)
	adminMux := http.NewServeMux()
	admin.Register(adminMux)
	a.handlers = map[string]http.Handler{"/api/v1/cameras": adminMux, "/api/v1/cameras/": adminMux}
	a.collectors = append(a.collectors, &camera.Liveness{Cams: cams, After: a.cfg.Liveness.OfflineAfter,
		Every: a.cfg.Liveness.CheckEvery, Source: "camera_liveness"})
	if a.cfg.Frigate.Enabled {
		fc := a.cfg.Frigate.Config
		if fc.Broker == "embedded" {
			fc.Broker = a.Broker.URL()
		}
		c, err := frigate.New(fc, cams, log, reg)
		if err != nil {
			return fmt.Errorf("frigate: %w", err)
		}
		a.collectors = append(a.collectors, c)
	}
	if a.cfg.Hikvision.Enabled {
		c, err := hikvision.New(a.cfg.Hikvision.Config, cams, log, reg)
		if err != nil {
			return fmt.Errorf("hikvision: %w", err)
		}
		a.collectors = append(a.collectors, c)
		a.handlers["POST /api/v1/ingest/hikvision"] = c.Handler()
	}
	if a.cfg.ONVIF.Enabled {
		c, err := onvif.New(a.cfg.ONVIF.Config, cams, log, reg)
		if err != nil {
			return fmt.Errorf("onvif: %w", err)
		}
		a.collectors = append(a.collectors, c)
	}
	if a.cfg.Webhook.Enabled {
		c, err := webhook.New(a.cfg.Webhook.Config, cams, log, reg)
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		a.collectors = append(a.collectors, c)
		a.handlers["/api/v1/ingest/camera/"] = c.Handler()
	}
	return nil
}
