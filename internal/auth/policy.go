package auth

import "net/http"

// Access is a set of callers allowed on a route.
type Access uint8

// Callers. Anyone includes the anonymous citizen; AnyToken is any valid API token, whatever its
// user's role.
const (
	Anyone Access = 1 << iota
	Admin
	Operator
	Leader
	Unit
	AnyToken

	Nobody   Access = 0
	Staff           = Admin | Operator | Leader // who sees the map, the live feed and the KPIs
	Desk            = Admin | Operator          // who acts on alarms
	Handlers        = Admin | Operator | Unit   // who handles citizen reports
	SignedIn        = Admin | Operator | Leader | Unit
)

func accessOf(r Role) Access {
	switch r {
	case RoleAdmin:
		return Admin
	case RoleOperator:
		return Operator
	case RoleLeader:
		return Leader
	case RoleUnit:
		return Unit
	}
	return Nobody
}

// Allows reports whether p (nil: anonymous) may call.
func (a Access) Allows(p *Principal) bool {
	if a&Anyone != 0 {
		return true
	}
	if p == nil {
		return false
	}
	return a&accessOf(p.Role) != 0 || (a&AnyToken != 0 && p.Via == "token")
}

// Scope narrows what a permitted caller sees on a route.
type Scope uint8

// Scopes.
const (
	ScopeNone Scope = iota
	// ScopeReportList: unit staff list only their unit's reports; an area-scoped operator lists
	// their areas as ScopeAreaSet narrows them.
	ScopeReportList
	// ScopeAreaParam: an area-scoped operator must ask for one of their areas, the only one by
	// default (the KPI scorecard, which reports a single area).
	ScopeAreaParam
	// ScopeAreaSet: an area-scoped operator reads the union of their areas by default, or the ones
	// they name in area= (repeatable), each of which must be theirs (alarm lists, report and alarm
	// KPIs).
	ScopeAreaSet
)

// Rule is who may call a route pattern: Read for GET, HEAD and OPTIONS, Write for other methods.
// MaxBody overrides the default request body limit. OwnAuth marks routes that authenticate their
// callers themselves (camera push endpoints with per-source HMAC, bearer or digest credentials): the
// access layer leaves their Authorization header alone and treats the caller as anonymous.
type Rule struct {
	Read, Write Access
	MaxBody     int64
	Scope       Scope
	OwnAuth     bool
}

// Allows reports whether p may call the route with method.
func (r Rule) Allows(method string, p *Principal) bool {
	if safeMethod(method) {
		return r.Read.Allows(p)
	}
	return r.Write.Allows(p)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Policy maps every route pattern registered on the server's mux (the exact pattern string) to its
// rule. A pattern without a rule is refused to everyone.
type Policy map[string]Rule

func get(a Access) Rule  { return Rule{Read: a} }
func post(a Access) Rule { return Rule{Write: a} }

// DefaultPolicy is ioc's route table. The public surface is the citizen report routes, Open311, the
// public report map, health, readiness, the web pages and their configuration, sign-in, and the
// camera push endpoints (which check their own per-source credentials).
func DefaultPolicy() Policy {
	return Policy{
		// Health, pages, sign-in.
		"GET /healthz":                       get(Anyone),
		"GET /readyz":                        get(Anyone),
		"GET /metrics":                       get(Admin | AnyToken),
		"/":                                  {Read: Anyone}, // embedded pages and assets; writes are refused
		"/api/":                              {Read: Anyone, Write: Anyone},
		"GET /report":                        get(Anyone),
		"GET /track/{code}":                  get(Anyone),
		"GET /kpi":                           get(Anyone),
		"GET /api/v1/ui/config":              get(Anyone),
		"POST /api/v1/auth/login":            post(Anyone),
		"POST /api/v1/auth/logout":           post(Anyone),
		"GET /api/v1/auth/me":                get(SignedIn),
		"GET /auth/oidc/login":               get(Anyone), // single sign-on; 404 when not configured
		"GET /auth/oidc/callback":            get(Anyone),
		"POST /auth/oidc/backchannel-logout": post(Anyone), // the provider's call; the logout token is its credential

		// Map, live feed, history, KPIs: read-only for leaders too.
		"GET /api/v1/devices":              get(Staff),
		"GET /api/v1/devices/{id}":         get(Staff),
		"GET /api/v1/readings":             get(Staff),
		"GET /api/v1/events":               get(Staff),
		"GET /api/v1/live":                 get(Staff),
		"GET /api/v1/entities":             get(Staff),
		"GET /api/v1/areas":                get(Staff),
		"GET /api/v1/boundaries":           get(Anyone), // outlines and names only: the citizen page's base map
		"GET /api/v1/areas/lookup":         get(Staff),
		"GET /api/v1/areas/{code}":         get(Staff),
		"GET /api/v1/areas/{code}/summary": get(Staff),
		"GET /api/v1/geofences":            get(Staff),
		"PUT /api/v1/geofences/{id}":       post(Admin),
		"DELETE /api/v1/geofences/{id}":    post(Admin),
		"POST /api/v1/admin/areas/reload":  post(Admin),
		"GET /api/v1/kpi":                  {Read: Staff, Scope: ScopeAreaParam},
		// Indicators (docs/INDICATORS.md): read like the KPIs, recomputed by the desk.
		"GET /api/v1/indicators":                {Read: Staff},
		"GET /api/v1/indicators/values":         {Read: Staff, Scope: ScopeAreaSet},
		"GET /api/v1/indicators/{code}/history": {Read: Staff, Scope: ScopeAreaSet},
		"POST /api/v1/indicators/recompute":     post(Desk),
		// Scheduled reports: the archive is read like the KPIs; a report is produced on demand by the desk.
		"GET /api/v1/briefings":             get(Staff),
		"GET /api/v1/briefings/schedules":   get(Staff),
		"GET /api/v1/briefings/{id}/{file}": get(Staff),
		"POST /api/v1/briefings/run":        post(Desk),

		// Alarms (the alarm handler routes methods itself under these prefixes).
		"/api/v1/alarms":       {Read: Staff, Write: Desk, Scope: ScopeAreaSet},
		"/api/v1/alarms/":      {Read: Staff, Write: Desk},
		"/api/v1/alarm-rules":  {Read: Desk, Write: Admin},
		"/api/v1/alarm-rules/": {Read: Desk, Write: Admin},

		// Citizen reports: public submit and track.
		"GET /api/v1/reports/services":             get(Anyone),
		"GET /api/v1/reports/form-token":           get(Anyone),
		"POST /api/v1/reports":                     post(Anyone),
		"GET /api/v1/reports/track/{code}":         get(Anyone),
		"POST /api/v1/reports/track/{code}/reopen": post(Anyone),
		"POST /api/v1/reports/track/{code}/rating": post(Anyone),
		"GET /api/v1/reports/nearby":               get(Anyone),
		"GET /api/v1/reports/map":                  get(Anyone),
		"GET /api/v1/reports/photos/{id}":          get(Anyone),
		"GET /api/v1/reports/photos/{id}/thumb":    get(Anyone),
		// Reports: handling.
		"GET /api/v1/reports":                    {Read: Handlers, Scope: ScopeReportList},
		"GET /api/v1/reports/kpi":                {Read: Staff, Scope: ScopeAreaSet},
		"GET /api/v1/reports/{id}":               get(Handlers),
		"POST /api/v1/reports/{id}/transition":   post(Handlers),
		"POST /api/v1/reports/{id}/severity":     post(Desk), // the intake operators
		"GET /api/v1/admin/open311/keys":         get(Admin),
		"POST /api/v1/admin/open311/keys":        post(Admin),
		"DELETE /api/v1/admin/open311/keys/{id}": post(Admin),
		// Open311: public reads; POST checks its API key itself.
		"GET /open311/v2/{file}":          get(Anyone),
		"POST /open311/v2/{file}":         post(Anyone),
		"GET /open311/v2/services/{file}": get(Anyone),
		"GET /open311/v2/requests/{file}": get(Anyone),
		"GET /open311/v2/tokens/{file}":   get(Anyone),

		// Cameras: the push endpoints authenticate each source themselves.
		"/api/v1/cameras":               {Read: Desk, Write: Admin},
		"/api/v1/cameras/":              {Read: Desk, Write: Admin},
		"POST /api/v1/ingest/hikvision": {Write: Anyone, OwnAuth: true},
		"/api/v1/ingest/camera/":        {Write: Anyone, OwnAuth: true},

		// Accounts and the audit log.
		"GET /api/v1/admin/users":          get(Admin),
		"POST /api/v1/admin/users":         post(Admin),
		"PUT /api/v1/admin/users/{name}":   post(Admin),
		"GET /api/v1/admin/tokens":         get(Admin),
		"POST /api/v1/admin/tokens":        post(Admin),
		"DELETE /api/v1/admin/tokens/{id}": post(Admin),
		"GET /api/v1/admin/audit":          get(Admin),
	}
}

// SetMaxBody sets the body limit of a pattern's rule (for routes whose handlers accept more than
// the default, like photo uploads); unknown patterns are ignored.
func (p Policy) SetMaxBody(pattern string, n int64) {
	if r, ok := p[pattern]; ok {
		r.MaxBody = n
		p[pattern] = r
	}
}
