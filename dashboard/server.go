// Package dashboard is ioc's HTTP face: the JSON API, the /api/v1/live websocket hub, health and
// metrics endpoints, and the embedded web pages.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/stream"
)

// VietnamTime is Asia/Ho_Chi_Minh (UTC+7, no daylight saving time).
var VietnamTime = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// calendarOrigin is a Monday at midnight in Asia/Ho_Chi_Minh: history windows start there plus a whole
// number of every, so every=1d gives calendar days (00:00–24:00 local, not 07:00–07:00) and every=7d weeks
// from Monday.
var calendarOrigin = time.Date(2024, 1, 1, 0, 0, 0, 0, VietnamTime)

// Deps are what the HTTP server serves from.
type Deps struct {
	Registry *registry.Registry
	Readings stream.ReadingStore
	Events   EventStore
	Hub      *Hub
	Gatherer prometheus.Gatherer
	Checks   map[string]stream.Checker // readiness checks by dependency name
	Web      fs.FS                     // static pages; nil serves none
	UI       UIConfig                  // what the pages are told at /api/v1/ui/config
	// Mount adds routes of other components (alarms, reports, camera ingest) to the mux.
	Mount func(mux *http.ServeMux)
	// Guard wraps the finished mux with the access layer (internal/auth); nil serves the mux as is.
	Guard func(mux *http.ServeMux) (http.Handler, error)
	// TLSCert and TLSKey are PEM files; set, the server speaks HTTPS only.
	TLSCert, TLSKey string
	// Geo serves admin areas, entities by bbox and geofences (geo.go); nil leaves those routes out.
	Geo *GeoDeps
	// Scope, when set, is asked per request for the caller's admin area codes (area-scoped operators;
	// any level): devices, readings, events, entities and area summaries leave out what lies in none of
	// them (InAreas), a device elsewhere answers 404, and events are narrowed in the store, before its
	// limit. No codes: the caller sees everything.
	Scope func(r *http.Request) []string
	// Limits bound time, headers and connections per client (nil: httpapi.DefaultServerLimits());
	// Registerer receives the connection metrics (nil: unregistered).
	Limits     *httpapi.ServerLimits
	Registerer prometheus.Registerer
	// ReadyDetails says whether the caller of /readyz may see each check and its error text; nil: nobody.
	ReadyDetails func(r *http.Request) bool
}

// EventStore answers the events route (ioc's SQLite store). EventsIn answers q narrowed to the events
// in any of areas (admin area codes at any level, as in Event.Areas; none: every event), newest first;
// the narrowing comes before q's limit, so an area-scoped caller gets up to the limit of their own
// events.
type EventStore interface {
	EventsIn(ctx context.Context, q stream.EventQuery, areas []string) ([]stream.Event, error)
}

// Server is the HTTP server.
type Server struct {
	addr    string
	log     *slog.Logger
	d       Deps
	lim     httpapi.ServerLimits
	ln      net.Listener
	handler http.Handler
}

// NewServer listens on addr and prepares the routes. A taken port is reported with the config key
// that changes it. The listener caps connections per client address and in total (d.Limits).
func NewServer(addr string, log *slog.Logger, d Deps) (*Server, error) {
	lim := httpapi.DefaultServerLimits()
	if d.Limits != nil {
		lim = *d.Limits
	}
	cm, err := httpapi.NewConnMetrics(d.Registerer)
	if err != nil {
		return nil, fmt.Errorf("http: metrics: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("http: %s is already in use (change http.addr, env IOC_HTTP_ADDR)", addr)
		}
		return nil, fmt.Errorf("http: listen %s: %w", addr, err)
	}
	ln = httpapi.LimitListener(ln, lim, httpapi.TotalConns(lim), cm)
	s := &Server{addr: addr, log: log.With("component", "http"), d: d, lim: lim, ln: ln}
	mux := s.routes()
	s.handler = mux
	if d.Guard != nil {
		if s.handler, err = d.Guard(mux); err != nil {
			ln.Close()
			return nil, fmt.Errorf("http: %w", err)
		}
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Handler is the root handler (for tests).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	h := func(fn httpapi.HandlerFunc) http.Handler { return httpapi.Wrap(s.log, fn) }
	mux.Handle("GET /healthz", h(func(w http.ResponseWriter, _ *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("GET /readyz", h(s.ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET /api/v1/devices", h(s.devices))
	mux.Handle("GET /api/v1/devices/{id}", h(s.device))
	mux.Handle("GET /api/v1/readings", h(s.readings))
	mux.Handle("GET /api/v1/events", h(s.events))
	mux.Handle("GET /api/v1/live", ownDeadlines(s.d.Hub))
	if s.d.Geo != nil {
		s.mountGeo(mux, h)
	}
	if s.d.Mount != nil {
		s.d.Mount(mux)
	}
	if s.d.Web != nil {
		// "/" for every method (a method-specific pattern would clash with components' "/api/v1/x/"
		// prefixes); anything but GET and HEAD is refused.
		files := http.FileServerFS(s.d.Web)
		s.pages(mux, s.d.Web)
		mux.Handle("/", h(func(w http.ResponseWriter, r *http.Request) error {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				return httpapi.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "chỉ GET / only GET")
			}
			files.ServeHTTP(w, r)
			return nil
		}))
	}
	mux.Handle("/api/", h(func(_ http.ResponseWriter, r *http.Request) error {
		return httpapi.NotFound("không có API này / no such API: %s %s", r.Method, r.URL.Path)
	}))
	return mux
}

// ownDeadlines lifts the server's read and write deadlines off a connection before h takes it
// over for good (the websocket hub, which keeps its own: a pong or frame within two ping intervals,
// each write within live.write_timeout).
func ownDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{}) // a recorder without deadlines has none to lift
		_ = rc.SetWriteDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then shuts down within timeout.
func (s *Server) Run(ctx context.Context, timeout time.Duration) error {
	srv := httpapi.NewServer(s.handler, s.lim, s.log)
	errc := make(chan error, 1)
	go func() {
		if s.d.TLSCert != "" {
			errc <- srv.ServeTLS(s.ln, s.d.TLSCert, s.d.TLSKey)
			return
		}
		errc <- srv.Serve(s.ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}

// Readiness statuses of /readyz.
const (
	ReadyOK       = "ready"     // 200: every check passed
	ReadyDegraded = "degraded"  // 200: a check is impaired but nothing accepted is lost (stream.ErrDegraded)
	ReadyNot      = "not_ready" // 503: a check failed
)

// ready answers /readyz: 200 while every check passes or is degraded, 503 when one fails. Every caller
// gets the status; the checks and their error text only callers ReadyDetails allows (admins, API
// tokens): an anonymous caller learns nothing of ioc's insides.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks, status := map[string]string{}, ReadyOK
	for name, c := range s.d.Checks {
		switch err := c.Check(ctx); {
		case err == nil:
			checks[name] = "ok"
		case errors.Is(err, stream.ErrDegraded):
			checks[name] = err.Error()
			if status == ReadyOK {
				status = ReadyDegraded
			}
		default:
			checks[name], status = err.Error(), ReadyNot
		}
	}
	code := http.StatusOK
	if status == ReadyNot {
		code = http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "ready": code == http.StatusOK}
	if s.d.ReadyDetails != nil && s.d.ReadyDetails(r) {
		body["checks"] = checks
	}
	return httpapi.WriteJSON(w, code, body)
}

// scopeAreas are the caller's area codes, none when the caller sees everything.
func (s *Server) scopeAreas(r *http.Request) []string {
	if s.d.Scope == nil {
		return nil
	}
	return s.d.Scope(r)
}

// scope is the caller's item filter, nil when the caller sees everything.
func (s *Server) scope(r *http.Request) func(Item) bool {
	if areas := s.scopeAreas(r); len(areas) > 0 {
		return InAreas(areas)
	}
	return nil
}

// InAreas is the item filter of an area-scoped caller: items with any of codes among their areas (at
// any level). An item without areas is in none.
func InAreas(codes []string) func(Item) bool {
	return func(it Item) bool {
		for _, code := range it.Areas {
			if slices.Contains(codes, code) {
				return true
			}
		}
		return false
	}
}

// sees reports whether filter (nil: everything) lets it through.
func sees(filter func(Item) bool, it Item) bool { return filter == nil || filter(it) }

func (s *Server) devices(w http.ResponseWriter, r *http.Request) error {
	kind := r.URL.Query().Get("kind")
	filter := s.scope(r)
	out := []Item{}
	for _, e := range s.d.Registry.List(stream.TypeTelemetry) {
		if kind == "" || e.Kind == kind {
			if it := ItemOf(e); sees(filter, it) {
				out = append(out, it)
			}
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"devices": out, "count": len(out)})
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) error {
	e, err := s.visibleDevice(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct {
		Item
		Metadata map[string]string `json:"metadata,omitempty"`
	}{ItemOf(e), e.Meta})
}

// visibleDevice is the registered entity id, or 404 when there is none or the caller's scope leaves
// it out (an out-of-scope device looks like a missing one).
func (s *Server) visibleDevice(r *http.Request, id string) (registry.Entity, error) {
	e, ok := s.d.Registry.Get(id)
	if !ok || !sees(s.scope(r), ItemOf(e)) {
		return registry.Entity{}, httpapi.NotFound("không tìm thấy thiết bị / device %q not found", id)
	}
	return e, nil
}

// readings serves GET /api/v1/readings?device=&field=&from=&to=&every=&agg=.
func (s *Server) readings(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := time.Now()
	from, err := httpapi.ParseTime(q.Get("from"), now.Add(-24*time.Hour))
	if err != nil {
		return httpapi.BadRequest("from: %v", err)
	}
	to, err := httpapi.ParseTime(q.Get("to"), now.Add(time.Minute))
	if err != nil {
		return httpapi.BadRequest("to: %v", err)
	}
	rq := stream.ReadingQuery{Entity: q.Get("device"), Field: q.Get("field"), From: from, To: to, Agg: q.Get("agg")}
	if ev := q.Get("every"); ev != "" {
		d, err := parseEvery(ev)
		if err != nil {
			return httpapi.BadRequest("every: %v", err)
		}
		rq.Every = d
		rq.Origin = calendarOrigin // days and weeks are calendar days and weeks in Asia/Ho_Chi_Minh
		if rq.Agg == "" {
			rq.Agg = "mean"
		}
	} else if rq.Agg != "" {
		return httpapi.BadRequest("agg needs every (1m, 1h, 1d …)")
	}
	if err := rq.Check(); err != nil {
		return httpapi.BadRequest("%v", err)
	}
	if s.scope(r) != nil { // a scoped caller reads only devices known to be in scope
		if _, err := s.visibleDevice(r, rq.Entity); err != nil {
			return err
		}
	}
	samples, err := s.d.Readings.Readings(r.Context(), rq)
	if err != nil {
		return fmt.Errorf("readings: %w", err)
	}
	type sample struct {
		TS    string  `json:"ts"`
		Value float64 `json:"value"`
	}
	out := make([]sample, len(samples))
	for i, sm := range samples {
		out[i] = sample{TS: sm.Time.In(VietnamTime).Format(time.RFC3339Nano), Value: sm.Value}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"device": rq.Entity, "field": rq.Field,
		"from": from.In(VietnamTime).Format(time.RFC3339), "to": to.In(VietnamTime).Format(time.RFC3339),
		"every": q.Get("every"), "agg": rq.Agg, "samples": out})
}

// events serves GET /api/v1/events?type=&camera=&entity=&label=&from=&to=&limit=.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := time.Now()
	from, err := httpapi.ParseTime(q.Get("from"), now.Add(-24*time.Hour))
	if err != nil {
		return httpapi.BadRequest("from: %v", err)
	}
	to, err := httpapi.ParseTime(q.Get("to"), now.Add(time.Minute))
	if err != nil {
		return httpapi.BadRequest("to: %v", err)
	}
	eq := stream.EventQuery{Type: q.Get("type"), Entity: q.Get("entity"), From: from, To: to, Attrs: map[string]string{}}
	if cam := q.Get("camera"); cam != "" {
		eq.Type, eq.Entity = stream.TypeCamera, cam
	}
	if label := q.Get("label"); label != "" {
		eq.Attrs["label"] = label
	}
	events, err := s.d.Events.EventsIn(r.Context(), eq, s.scopeAreas(r))
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	out := make([]Item, len(events))
	for i, e := range events {
		out[i] = ItemOf(registry.Entity{ID: e.Entity, Kind: e.Kind, Type: e.Type, Time: e.Time, Location: e.Location,
			HasLocation: e.HasLocation, Values: e.Values, Attrs: e.Attrs, Areas: e.Areas})
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"events": out, "count": len(out)})
}

// parseEvery accepts Go durations and a day suffix (1d).
func parseEvery(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := time.ParseDuration(n + "h")
		if err != nil {
			return 0, fmt.Errorf("%q is not a window like 1m, 1h or 1d", s)
		}
		return d * 24, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is not a window like 1m, 1h or 1d (at least 1s)", s)
	}
	return d, nil
}
