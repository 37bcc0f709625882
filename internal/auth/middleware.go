package auth

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// GuardOptions configure the access layer around the server's mux.
type GuardOptions struct {
	Policy         Policy
	MaxBody        int64    // default request body limit, bytes
	TLS            bool     // served over TLS: Secure cookies and HSTS
	TrustedOrigins []string // origins besides the server's own allowed to send writes (http.allowed_origins)
	ImgSources     []string // extra CSP img-src origins (the tile server)
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and X-Real-IP are believed
	// (http.trusted_proxies, ParseProxies); from any other peer they are ignored.
	TrustedProxies []netip.Prefix
	// Objects check, for a route pattern, that a scoped principal (area-scoped operator, unit staff)
	// may act on the object the request addresses; an error refuses the request.
	Objects map[string]ObjectCheck
}

// ObjectCheck reports whether p may reach the object r addresses (an *httpapi.Error picks the answer).
// It runs before the mux, so r.PathValue is not set yet: read the object from r.URL.Path.
type ObjectCheck func(r *http.Request, p *Principal) error

// Guard is the access layer: it sets security headers, applies per-address and per-token rate
// limits, refuses cross-origin writes, finds the caller, applies the policy rule of the route pattern
// the mux would pick (no rule: refused), narrows scoped callers, bounds the body and records writes of
// signed-in users in the audit log.
type Guard struct {
	s       *Service
	mux     *http.ServeMux
	o       GuardOptions
	cop     *http.CrossOriginProtection
	ipLim   *Limiter
	tokLim  *Limiter
	headers map[string]string

	warnOnce sync.Map // patterns without a rule, logged once each
}

// Guard wraps mux. It fails when the options are inconsistent (a bad trusted origin).
func (s *Service) Guard(mux *http.ServeMux, o GuardOptions) (*Guard, error) {
	ipTiers, err := ParseLimits(s.cfg.RateLimitIP)
	if err != nil {
		return nil, fmt.Errorf("rate_limit_ip: %w", err)
	}
	tokTiers, err := ParseLimits(s.cfg.RateLimitToken)
	if err != nil {
		return nil, fmt.Errorf("rate_limit_token: %w", err)
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	g := &Guard{s: s, mux: mux, o: o, cop: http.NewCrossOriginProtection(), ipLim: NewLimiter(ipTiers), tokLim: NewLimiter(tokTiers)}
	for _, origin := range o.TrustedOrigins {
		if err := g.cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("trusted origin %q: %w", origin, err)
		}
	}
	g.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusForbidden, "cross_origin",
			"yêu cầu từ trang khác bị từ chối / cross-origin request refused"))
	}))
	img := "'self' data: blob:"
	for _, src := range o.ImgSources {
		img += " " + src
	}
	g.headers = map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img +
			"; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "same-origin",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Permissions-Policy":           "camera=(), microphone=(), geolocation=(self)",
	}
	if o.TLS {
		g.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
	}
	return g, nil
}

// Mux is the wrapped mux.
func (g *Guard) Mux() *http.ServeMux { return g.mux }

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range g.headers {
		h.Set(k, v)
	}
	ip := proxies(g.o.TrustedProxies).clientOf(r)
	r = r.WithContext(httpapi.WithClientIP(r.Context(), ip))
	now := g.s.now()
	if ok, wait := g.ipLim.Allow(ip, now); !ok {
		g.s.m.limited.WithLabelValues("ip").Inc()
		g.tooMany(w, r, wait)
		return
	}
	_, pattern := g.mux.Handler(r)
	if pattern == "" { // no route: the mux answers 404 or 405 without running a handler
		g.mux.ServeHTTP(w, r)
		return
	}
	rule, ok := g.o.Policy[pattern]
	if !ok {
		if _, seen := g.warnOnce.LoadOrStore(pattern, true); !seen {
			g.s.log.Error("route has no access rule; refused to everyone", "pattern", pattern)
		}
		g.s.m.denied.WithLabelValues("no_rule").Inc()
		httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "tuyến không có quy tắc truy cập / route has no access rule"))
		return
	}
	var p *Principal
	var err error
	if !rule.OwnAuth {
		p, err = g.s.Authenticate(r)
	}
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			g.s.m.denied.WithLabelValues("bad_token").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="ioc"`)
			httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "mã truy cập không hợp lệ / %v", err))
			return
		}
		httpapi.WriteError(w, r, g.s.log, fmt.Errorf("authenticate: %w", err))
		return
	}
	if p != nil && p.Via == "token" {
		if ok, wait := g.tokLim.Allow(p.TokenID, now); !ok {
			g.s.m.limited.WithLabelValues("token").Inc()
			g.tooMany(w, r, wait)
			return
		}
	}
	// Cross-origin writes are refused before anything else runs: browsers send Sec-Fetch-Site or
	// Origin, so a page on another site cannot use a signed-in operator's cookie. Token callers
	// cannot be forged by a browser and are not checked.
	if (p == nil || p.Via != "token") && !safeMethod(r.Method) {
		if err := g.cop.Check(r); err != nil {
			g.s.m.denied.WithLabelValues("csrf").Inc()
			httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusForbidden, "cross_origin",
				"yêu cầu từ trang khác bị từ chối / cross-origin request refused"))
			return
		}
	}
	if !rule.Allows(r.Method, p) {
		if p == nil {
			g.s.m.denied.WithLabelValues("unauthenticated").Inc()
			httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "cần đăng nhập / sign-in required"))
		} else {
			g.s.m.denied.WithLabelValues("forbidden").Inc()
			httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusForbidden, "forbidden", "không đủ quyền / your role may not do this"))
			g.audit(r, p, pattern, http.StatusForbidden)
		}
		return
	}
	if p != nil {
		if err := g.scope(r, p, rule, pattern); err != nil {
			g.s.m.denied.WithLabelValues("scope").Inc()
			httpapi.WriteError(w, r, g.s.log, err)
			status := http.StatusInternalServerError
			if he := (*httpapi.Error)(nil); errors.As(err, &he) {
				status = he.Status
			}
			g.audit(r, p, pattern, status)
			return
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
	}
	limit := g.o.MaxBody
	if rule.MaxBody > 0 {
		limit = rule.MaxBody
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if p == nil || safeMethod(r.Method) {
		g.mux.ServeHTTP(w, r)
		return
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	g.mux.ServeHTTP(rec, r)
	g.audit(r, p, pattern, rec.status)
}

func (g *Guard) audit(r *http.Request, p *Principal, pattern string, status int) {
	if safeMethod(r.Method) {
		return
	}
	g.s.Audit(r.Context(), AuditEntry{Actor: p.User, Role: p.Role, Action: pattern, Method: r.Method,
		Path: r.URL.Path, Status: status, IP: clientIP(r), TokenID: p.TokenID})
}

// scope narrows an area-scoped operator or unit staff member to what they may see.
func (g *Guard) scope(r *http.Request, p *Principal, rule Rule, pattern string) error {
	scoped := len(p.Areas) > 0 || p.Role == RoleUnit
	if !scoped {
		return nil
	}
	if check := g.o.Objects[pattern]; check != nil {
		if err := check(r, p); err != nil {
			return err
		}
	}
	switch rule.Scope {
	case ScopeReportList:
		q := r.URL.Query()
		if p.Role == RoleUnit {
			if u := q.Get("unit"); u != "" && u != p.Unit {
				return httpapi.Errorf(http.StatusForbidden, "out_of_scope", "chỉ xem được phản ánh của đơn vị mình / only your unit's reports")
			}
			q.Set("unit", p.Unit)
		} else if err := NarrowAreas(q, p); err != nil {
			return err
		}
		r.URL.RawQuery = q.Encode()
	case ScopeAreaParam, ScopeAreaSet:
		if !safeMethod(r.Method) {
			return nil
		}
		narrow := NarrowArea
		if rule.Scope == ScopeAreaSet {
			narrow = NarrowAreas
		}
		q := r.URL.Query()
		if err := narrow(q, p); err != nil {
			return err
		}
		r.URL.RawQuery = q.Encode()
	}
	return nil
}

// NarrowAreas narrows the area parameters of query q (area=, repeatable; empty values are dropped)
// to an area-scoped principal's areas: all of them when none is asked for, 403 when one asked for
// lies outside them. The handler reads the union of the areas left. Unscoped principals are left
// alone.
func NarrowAreas(q url.Values, p *Principal) error {
	if len(p.Areas) == 0 {
		return nil
	}
	asked := slices.DeleteFunc(slices.Clone(q["area"]), func(a string) bool { return a == "" })
	for _, a := range asked {
		if !slices.Contains(p.Areas, a) {
			return outOfScope(a)
		}
	}
	if len(asked) == 0 {
		asked = slices.Clone(p.Areas)
	}
	q["area"] = asked
	return nil
}

// NarrowArea narrows the area parameter of query q to an area-scoped principal's areas: their only
// area when none is asked for, 400 when they have several and none is asked for, 403 for an area
// outside them (any of the values, though the handler reads the first). Unscoped principals are left
// alone.
func NarrowArea(q url.Values, p *Principal) error {
	if len(p.Areas) == 0 {
		return nil
	}
	for _, a := range q["area"] {
		if a != "" && !slices.Contains(p.Areas, a) {
			return outOfScope(a)
		}
	}
	switch {
	case q.Get("area") != "":
	case len(p.Areas) == 1:
		q.Set("area", p.Areas[0])
	default:
		return httpapi.Errorf(http.StatusBadRequest, "area_required", "hãy chọn một vùng: %s / choose an area: area=%s",
			strings.Join(p.Areas, ", "), strings.Join(p.Areas, "|"))
	}
	return nil
}

func outOfScope(area string) error {
	return httpapi.Errorf(http.StatusForbidden, "out_of_scope", "vùng %s ngoài phạm vi của bạn / area %s is outside your scope", area, area)
}

func (g *Guard) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	httpapi.WriteError(w, r, nil, httpapi.Errorf(http.StatusTooManyRequests, "rate_limited", "quá nhiều yêu cầu, thử lại sau / too many requests, retry later"))
}

// clientIP is the client address the access layer resolved (X-Forwarded-For only from trusted
// proxies; see proxy.go).
func clientIP(r *http.Request) string { return httpapi.ClientIP(r) }

// recorder keeps the status a handler wrote; it passes Hijack and Flush through (websocket, streams).
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.wrote = true
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(rec.ResponseWriter).Hijack()
}
