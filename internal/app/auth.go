package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

// startAuth opens the account store and creates the first admin when there is no account yet.
func (a *App) startAuth(ctx context.Context, reg prometheus.Registerer, checks map[string]stream.Checker) error {
	var err error
	a.Auth, err = OpenAuth(ctx, a.cfg, auth.Options{Log: a.log, Registerer: reg})
	if err != nil {
		return err
	}
	st := a.Auth.Store()
	a.closers = append(a.closers, st.Close)
	checks["auth"] = st
	if err := a.Auth.Sweep(ctx); err != nil {
		return fmt.Errorf("auth store: %w", err)
	}
	if a.cfg.Admin.User == "" {
		return nil
	}
	pw, generated := a.cfg.Admin.Password, false
	if pw == "" {
		n, err := st.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("first admin password: %w", err)
		}
		pw, generated = base64.RawURLEncoding.EncodeToString(b), true
	}
	created, err := a.Auth.EnsureAdmin(ctx, a.cfg.Admin.User, pw, a.cfg.Admin.Token)
	if err != nil || !created || !generated {
		return err
	}
	// The generated password goes to a file only its owner reads, never to the log.
	a.AdminPasswordFile = filepath.Join(filepath.Dir(a.cfg.Store.Path), "admin-password")
	if err := os.WriteFile(a.AdminPasswordFile, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("first admin password: %w", err)
	}
	return nil
}

// OpenAuth opens the account store of cfg (SQLite beside the embedded store unless configured) and
// builds the account service over it; close its Store when done. ioc user add uses it too.
func OpenAuth(ctx context.Context, cfg config.Config, o auth.Options) (*auth.Service, error) {
	ac := cfg.Auth
	if ac.Store.Driver == "sqlite" {
		ac.Store.Path = authDBPath(cfg)
		if err := secureSQLite(ac.Store.Path); err != nil {
			return nil, fmt.Errorf("auth store: %w", err)
		}
	}
	st, err := auth.OpenStore(ctx, ac.Store)
	if err != nil {
		return nil, fmt.Errorf("auth store: %w", err)
	}
	s, err := auth.New(ac, st, o)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return s, nil
}

// guard wraps the server's mux with the access layer. Routes registered without a rule are named
// in the log at start and refused to everyone.
func (a *App) guard(mux *http.ServeMux) (http.Handler, error) {
	pol := auth.DefaultPolicy()
	pol.SetMaxBody("POST /api/v1/reports", a.cfg.Reports.MaxBodyBytes)
	pol.SetMaxBody("POST /open311/v2/{file}", a.cfg.Reports.MaxBodyBytes)
	pol.SetMaxBody("POST /api/v1/ingest/hikvision", a.cfg.Hikvision.MaxBodyBytes)
	pol.SetMaxBody("/api/v1/ingest/camera/", a.cfg.Webhook.MaxBodyBytes)
	if unruled, err := pol.Unruled(mux); err != nil {
		a.log.Warn("cannot list routes to check the access policy", "error", err)
	} else {
		for _, p := range unruled {
			a.log.Error("route has no access rule; it is refused to everyone", "component", "auth", "pattern", p)
		}
	}
	var img []string
	if u, err := url.Parse(a.cfg.Web.TileURL); err == nil && u.Host != "" {
		img = append(img, u.Scheme+"://"+u.Host)
	}
	proxies, err := auth.ParseProxies(a.cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.%w", err)
	}
	return a.Auth.Guard(mux, auth.GuardOptions{Policy: pol, MaxBody: a.cfg.HTTP.MaxBody, TLS: a.cfg.HTTP.TLSCert != "",
		TrustedOrigins: a.cfg.HTTP.AllowedOrigins, ImgSources: img, Objects: a.objectChecks(), TrustedProxies: proxies})
}

// objectChecks keep area-scoped operators and unit staff to their own reports and alarms when they
// address one, and narrow the alarm KPIs to the operator's areas.
func (a *App) objectChecks() map[string]auth.ObjectCheck {
	reportByID := func(r *http.Request, p *auth.Principal) error {
		// The access layer runs before the mux sets path values: read the id from the path.
		idS, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/v1/reports/"), "/")
		id, err := strconv.ParseInt(idS, 10, 64)
		if err != nil {
			return nil // the handler answers 404
		}
		rep, _, err := a.Reports.Get(r.Context(), id)
		if errors.Is(err, report.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scope check: %w", err)
		}
		if p.Role == auth.RoleUnit && rep.Unit != p.Unit || !p.SeesArea(rep.Areas) {
			return httpapi.NotFound("không tìm thấy phản ánh / report not found")
		}
		return nil
	}
	// /api/v1/alarms/{id}[/{action}] (the alarm handler routes these itself under the prefix).
	alarmByID := func(r *http.Request, p *auth.Principal) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/api/v1/alarms/"), "/")
		switch id {
		case "":
			return nil
		case "kpi": // GET /api/v1/alarms/kpi?area=: the figures of the operator's areas, or of those named
			q := r.URL.Query()
			if err := auth.NarrowAreas(q, p); err != nil {
				return err
			}
			r.URL.RawQuery = q.Encode()
			return nil
		}
		return a.alarmInScope(r.Context(), p, id)
	}
	return map[string]auth.ObjectCheck{
		"GET /api/v1/reports/{id}":             reportByID,
		"POST /api/v1/reports/{id}/transition": reportByID,
		"POST /api/v1/reports/{id}/severity":   reportByID,
		"/api/v1/alarms/":                      alarmByID,
	}
}

// alarmInScope refuses (404, as if it did not exist) an alarm outside an area-scoped principal's
// areas. An unknown alarm passes: the action itself answers 404.
func (a *App) alarmInScope(ctx context.Context, p *auth.Principal, id string) error {
	if len(p.Areas) == 0 {
		return nil
	}
	al, _, err := a.Alarms.Get(ctx, id)
	if errors.Is(err, alarm.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scope check: %w", err)
	}
	if !p.SeesArea(al.Areas) {
		return httpapi.NotFound("không tìm thấy %s / %s not found", id, id)
	}
	return nil
}

// scopeAreas are an area-scoped operator's area codes (none for everyone else): the devices,
// readings, events, entities and area summary routes show them only what lies there.
func scopeAreas(r *http.Request) []string {
	if p := auth.From(r.Context()); p != nil {
		return p.Areas
	}
	return nil
}

// readyDetails lets admins and API tokens see the checks of /readyz and their error text; everyone
// else gets only the status.
func readyDetails(r *http.Request) bool {
	p := auth.From(r.Context())
	return p != nil && (p.Role == auth.RoleAdmin || p.Via == "token")
}

// areaFilter limits an area-scoped operator's live feed (items, clusters, leaves) to entities in
// their areas, as scopeAreas does on the routes.
func areaFilter(r *http.Request) func(dashboard.Item) bool {
	if areas := scopeAreas(r); len(areas) > 0 {
		return dashboard.InAreas(areas)
	}
	return nil
}

// cameraScope lets an area-scoped operator list only the cameras located in their areas (the admin
// areas of the camera's configured position, any level).
func (a *App) cameraScope(r *http.Request) func(camera.Config) bool {
	p := auth.From(r.Context())
	if p == nil || len(p.Areas) == 0 {
		return nil
	}
	return func(c camera.Config) bool { return p.SeesArea(a.Geo.Codes(c.Location[0], c.Location[1])) }
}

// actor names who is acting on an operator route: the signed-in user ("" when nobody is).
func (a *App) actor(r *http.Request) string {
	if p := auth.From(r.Context()); p != nil {
		return p.User
	}
	return ""
}
