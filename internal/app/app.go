// Package app builds ioc from its configuration and runs it: sinks before sources, sources stopped
// first, the pipeline drained into the store before anything else closes.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	mqttc "github.com/ioc-vn/ioc/collectors/mqtt"
	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/broker"
	"github.com/ioc-vn/ioc/internal/cluster"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/simulate"
	"github.com/ioc-vn/ioc/internal/store/influx"
	"github.com/ioc-vn/ioc/internal/store/sqlite"
	"github.com/ioc-vn/ioc/stream"
)

// Options are run-time choices that are not configuration.
type Options struct {
	Web       fs.FS  // embedded web pages (nil: none)
	AdminFile string // province boundary file used by the demo feed
}

// App is a running ioc.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	Registry *registry.Registry
	Store    *sqlite.Store
	Influx   *influx.Store // readings and event history when influx.enabled, else nil
	Broker   *broker.Broker
	Pipeline *stream.Pipeline
	Hub      *dashboard.Hub
	HTTP     *dashboard.Server
	Gatherer prometheus.Gatherer
	Cluster  *cluster.Node // nil on a single node
	Alarms   *alarm.Engine
	Geo      *geo.Enricher // admin areas in use and the enrichment stage
	Fences   *geo.Fences
	Reports  *report.Service
	Auth     *auth.Service
	// Indicators computes and serves the steering indicators.
	Indicators *indicator.Service
	Briefings  *briefing.Service // scheduled reports
	// AdminPasswordFile names the file holding the first admin's generated password when this start
	// created that account without a configured password ("" otherwise).
	AdminPasswordFile string

	alarmStore  *alarm.SQLStore
	alarmHTTP   *alarm.Handler // the alarm routes, also used by websocket actions
	reportStore report.Store
	feed        *feed // events from HTTP-side components (reports) into the pipeline
	closers     []func() error
	handlers    map[string]http.Handler // extra routes (camera push endpoints)

	collectors []stream.Collector
	done       chan struct{}
	err        error
}

// Start builds every component and starts it. Cancel ctx to stop; Wait returns when everything has
// stopped and the pipeline has been drained into the store.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	a := &App{cfg: cfg, log: log, done: make(chan struct{})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Gatherer = reg

	if err := secureData(cfg); err != nil {
		return nil, fmt.Errorf("data files: %w", err)
	}
	st, err := sqlite.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	a.Store = st
	st.CountClashes(sqlite.NewClashCounter(reg))
	closeOnErr := func(err error) (*App, error) { return nil, errors.Join(err, st.Close()) }

	var hub *dashboard.Hub
	a.Registry = registry.New(cfg.Devices.AutoRegister, func(es []registry.Entity) { hub.PublishEntities(es) })
	a.Registry.SetLimits(registry.Limits{MaxIDLength: cfg.Devices.MaxIDLength, MaxAuto: cfg.Devices.MaxAutoRegistered,
		MaxAutoPerSource: cfg.Devices.MaxAutoRegisteredPerSource})
	if err := a.Registry.RegisterMetrics(reg); err != nil {
		return closeOnErr(err)
	}
	if cfg.Devices.File != "" {
		if err := a.Registry.LoadDevices(cfg.Devices.File); err != nil {
			return closeOnErr(err)
		}
	}
	saved, err := st.Entities(ctx)
	if err != nil {
		return closeOnErr(err)
	}
	a.Registry.Restore(saved)

	hub = dashboard.NewHub(dashboard.HubConfig{PingInterval: cfg.Live.PingInterval, WriteTimeout: cfg.Live.WriteTimeout,
		MaxMessage: cfg.Live.MaxMessage, MaxPending: cfg.Live.MaxPending, FlushInterval: cfg.Live.FlushInterval,
		ClusterBelowZoom: cfg.Geo.ClusterBelowZoom, ClusterInterval: cfg.Geo.ClusterInterval, MaxViewItems: cfg.Geo.MaxViewItems,
		AllowedOrigins: cfg.HTTP.AllowedOrigins, Allow: areaFilter, Actions: a.liveActions,
		Recheck: func(r *http.Request) func(context.Context) bool { return a.Auth.Recheck(r) }}, log, reg, func() []dashboard.Item {
		es := a.Registry.List()
		items := make([]dashboard.Item, len(es))
		for i, e := range es {
			items[i] = dashboard.ItemOf(e)
		}
		return items
	})
	a.Hub = hub

	checks := map[string]stream.Checker{"store": st}
	if cfg.Broker.Enabled {
		var watch []string
		for _, c := range cfg.Collectors {
			if c.Broker == "embedded" {
				watch = append(watch, c.ClientID)
			}
		}
		if cfg.Frigate.Enabled && cfg.Frigate.Broker == "embedded" {
			watch = append(watch, cfg.Frigate.ClientID)
		}
		b, err := openBroker(broker.Config{Listen: cfg.Broker.Listen, MaxInflight: cfg.Broker.MaxInflight, Watch: watch,
			Username: cfg.Broker.Username, Password: cfg.Broker.Password}, cfg.Broker.OnTaken, log, reg)
		if err != nil {
			return closeOnErr(err)
		}
		a.Broker = b
		checks["broker"] = b
	}

	sinks := []stream.SinkSpec{{Name: "store", Sink: st, Durable: true}, {Name: "state", Sink: a.Registry}}
	var readings stream.ReadingStore = st
	if cfg.Influx.Enabled {
		a.Influx, err = influx.Open(cfg.Influx.Config, influx.Options{Log: log, Registerer: reg,
			KindOf: func(id string) (string, bool) {
				e, ok := a.Registry.Get(id)
				return e.Kind, ok && e.Kind != ""
			}})
		if err != nil {
			return closeOnErr(err)
		}
		a.closers = append(a.closers, a.Influx.Close)
		st.KeepReadings(false) // the history lives in InfluxDB; SQLite keeps entity state and events
		checks["influx"] = a.Influx
		// One lane per writer: up to writers requests of batch_size points in flight, each device's
		// points in one lane, so in order. The acknowledgement window is not held up by one slow request.
		sinks = append(sinks, stream.SinkSpec{Name: "influx", Sink: a.Influx, Durable: true,
			Batch: cfg.Influx.BatchSize, Lanes: cfg.Influx.Writers})
		readings = a.Influx
	}
	if cfg.Cluster.NATSURL != "" {
		a.Cluster, err = cluster.Join(ctx, cluster.Config{NodeID: cfg.Cluster.NodeID, NATSURL: cfg.Cluster.NATSURL,
			Bucket: cfg.Cluster.Bucket}, log, reg, a.Registry.Write)
		if err != nil {
			return closeOnErr(err)
		}
		sinks = append(sinks, stream.SinkSpec{Name: "cluster", Sink: a.Cluster})
		checks["nats"] = a.Cluster
	}

	if err := a.startGeo(reg); err != nil {
		return closeOnErr(err)
	}
	if err := a.startAuth(ctx, reg, checks); err != nil {
		return closeOnErr(err)
	}
	if err := a.startAlarms(ctx, reg, checks); err != nil {
		return closeOnErr(err)
	}
	// Registry first (it fills a static device's location), then areas and geofences, so alarm rules
	// and every sink see ev.Areas.
	stages := []stream.Stage{a.Registry, a.Geo, a.Fences, a.Alarms}

	pl := cfg.Pipeline
	a.Pipeline, err = stream.NewPipeline(stream.PipelineConfig{QueueSize: pl.QueueSize, OnFull: pl.OnFull, MaxFuture: pl.MaxFuture,
		SinkQueueSize: pl.SinkQueueSize, SinkBatch: pl.SinkBatch, FlushInterval: pl.FlushInterval},
		log.With("component", "pipeline"), reg,
		stages, sinks)
	if err != nil {
		return closeOnErr(err)
	}

	cm := mqttc.NewMetrics(reg)
	for _, c := range cfg.Collectors {
		url := c.Broker
		if url == "embedded" {
			url = a.Broker.URL()
		}
		topics := make([]mqttc.Topic, len(c.Topics))
		for i, t := range c.Topics {
			topics[i] = mqttc.Topic{Filter: t.Filter, Format: t.Format}
		}
		col, err := mqttc.New(mqttc.Config{Name: c.Name, Broker: url, ClientID: c.ClientID, Username: c.Username,
			Password: c.Password, CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, QoS: byte(c.QoS), CleanSession: c.CleanSession, Ack: c.Ack, MaxPayload: c.MaxPayload,
			KeepAlive: c.KeepAlive, Topics: topics, ReadyGrace: c.ReadyGrace, Drain: cfg.Shutdown.Timeout}, log, cm)
		if err != nil {
			return closeOnErr(err)
		}
		a.collectors = append(a.collectors, col)
		checks["collector:"+c.Name] = col
	}

	if err := a.startReports(ctx, reg, checks); err != nil {
		return closeOnErr(err)
	}
	if err := a.startIndicators(ctx, reg, checks); err != nil {
		return closeOnErr(err)
	}
	if err := a.startBriefings(reg); err != nil {
		return closeOnErr(err)
	}
	if err := a.startCameras(reg, opts); err != nil {
		return closeOnErr(err)
	}
	// Trusted reverse proxies speak for many citizens: they are not capped per address.
	lim := httpapi.DefaultServerLimits()
	if lim.Exempt, err = auth.ParseProxies(cfg.HTTP.TrustedProxies); err != nil {
		return closeOnErr(fmt.Errorf("http.trusted_proxies: %w", err))
	}
	a.HTTP, err = dashboard.NewServer(cfg.HTTP.Addr, log, dashboard.Deps{Registry: a.Registry, Readings: readings, Events: st,
		Limits: &lim, Registerer: reg,
		Hub: hub, Gatherer: reg, Checks: checks, Web: opts.Web, Mount: a.mount, Geo: a.geoDeps(),
		Guard: a.guard, TLSCert: cfg.HTTP.TLSCert, TLSKey: cfg.HTTP.TLSKey, Scope: scopeAreas, ReadyDetails: readyDetails,
		UI: dashboard.UIConfig{TileURL: cfg.Web.TileURL, TileAttribution: cfg.Web.TileAttribution, AdminFile: filepath.Base(opts.AdminFile),
			SSO: cfg.Auth.OIDC.Enabled()}})
	if err != nil {
		return closeOnErr(err)
	}

	var demo []simulate.Device
	if cfg.Demo.Enabled {
		if demo, err = simulate.Fleet(a.demoConfig(opts)); err != nil {
			return closeOnErr(err)
		}
		for _, d := range demo {
			a.Registry.Register(d.Device)
		}
	}
	go a.run(ctx, opts)
	return a, nil
}

// run starts sinks, then sources; on ctx end it stops sources, drains the pipeline, then stops the rest.
func (a *App) run(ctx context.Context, opts Options) {
	defer close(a.done)
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	var bgWG sync.WaitGroup
	errs := make(chan error, 8)
	goBG := func(name string, fn func(context.Context) error) {
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			if err := fn(bg); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	// Sinks and servers first.
	drainCtx, cancelDrain := context.WithCancel(context.Background())
	defer cancelDrain()
	plDone := make(chan struct{})
	go func() {
		defer close(plDone)
		_ = a.Pipeline.Run(drainCtx)
	}()
	goBG("live hub", a.Hub.Run)
	goBG("http", func(c context.Context) error { return a.HTTP.Run(c, a.cfg.Shutdown.Timeout) })
	if a.Broker != nil {
		goBG("broker", a.Broker.Run)
	}
	if a.Cluster != nil {
		goBG("cluster", a.Cluster.Run)
	}

	// Sources.
	srcCtx, stopSrc := context.WithCancel(ctx)
	defer stopSrc()
	var srcWG sync.WaitGroup
	for _, c := range a.collectors {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := c.Run(srcCtx, a.Pipeline.Emit); err != nil {
				errs <- fmt.Errorf("collector: %w", err)
			}
		}()
	}
	for name, src := range map[string]stream.Collector{"alarm engine": a.Alarms, "feed": a.feed, "geofences": a.Fences} {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := src.Run(srcCtx, a.Pipeline.Emit); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goBG("reports", a.Reports.Run)
	goBG("indicators", a.Indicators.Run)
	goBG("briefings", a.Briefings.Run)
	if a.Influx != nil {
		goBG("influx spool watch", a.watchSpool)
	}
	if a.cfg.Demo.Enabled {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			if err := simulate.Run(srcCtx, a.demoConfig(opts), a.log); err != nil {
				errs <- fmt.Errorf("demo feed: %w", err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		a.log.Error("component failed; shutting down", "error", runErr)
	}
	a.log.Info("shutting down: stopping sources, draining the pipeline", "timeout", a.cfg.Shutdown.Timeout)
	stopSrc()
	srcWG.Wait()
	a.Pipeline.Close()
	timer := time.AfterFunc(a.cfg.Shutdown.Timeout, cancelDrain) // give up on failing sink writes after the deadline
	<-plDone
	timer.Stop()
	stopBG()
	bgWG.Wait()
	close(errs)
	for err := range errs {
		runErr = errors.Join(runErr, err)
	}
	for _, c := range a.closers {
		runErr = errors.Join(runErr, c())
	}
	a.err = errors.Join(runErr, a.Store.Close())
	a.log.Info("stopped")
}

// Wait blocks until the app has stopped and returns what went wrong, if anything.
func (a *App) Wait() error {
	<-a.done
	return a.err
}

// URL is the address browsers use.
func (a *App) URL() string {
	host, port, err := net.SplitHostPort(a.HTTP.Addr())
	if err != nil {
		return a.scheme() + a.HTTP.Addr() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return a.scheme() + net.JoinHostPort(host, port) + "/"
}

func (a *App) scheme() string {
	if a.cfg.HTTP.TLSCert != "" {
		return "https://"
	}
	return "http://"
}

// openBroker starts the embedded broker on bc.Listen; with onTaken "next_free" a taken port moves it to
// the first free one of the next 20 ports (the same one at every start while they stay free), and then
// to any free port, saying so in the log.
func openBroker(bc broker.Config, onTaken string, log *slog.Logger, reg prometheus.Registerer) (*broker.Broker, error) {
	b, err := broker.New(bc, log, reg)
	if err == nil || onTaken != "next_free" || !errors.Is(err, broker.ErrAddrInUse) {
		return b, err
	}
	host, portText, serr := net.SplitHostPort(bc.Listen)
	port, perr := strconv.Atoi(portText)
	if serr != nil || perr != nil {
		return nil, err
	}
	tries := make([]string, 0, 21)
	for p := port + 1; p <= port+20 && p < 65536; p++ {
		tries = append(tries, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	tries = append(tries, net.JoinHostPort(host, "0"))
	for _, addr := range tries {
		next := bc
		next.Listen = addr
		if b, err = broker.New(next, log, reg); err == nil {
			log.Warn("embedded MQTT broker: port taken, listening on another", "component", "broker",
				"wanted", bc.Listen, "addr", b.Addr())
			return b, nil
		}
		if !errors.Is(err, broker.ErrAddrInUse) {
			return nil, err
		}
	}
	return nil, err
}
