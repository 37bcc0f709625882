// Package auth holds ioc's accounts and their enforcement: local users with argon2id passwords and
// roles, cookie sessions, hashed API tokens, the route policy (which role may call which route
// pattern), the HTTP middleware that applies it together with CSRF protection, rate limits, body
// limits and security headers, login backoff, and the audit log of operator and admin actions.
//
// Roles:
//
//	admin     everything, including users, tokens, rules, cameras, the audit log and /metrics
//	operator  the operations screens and their actions (ack alarms, move reports); optionally
//	          scoped to area codes
//	leader    read-only: the map, the live feed and the KPIs
//	unit      unit staff: the reports assigned to their unit
//
// A request without a session or token is a citizen (anonymous) and reaches only the public surface.
package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a user may do.
type Role string

// The roles.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleLeader   Role = "leader"
	RoleUnit     Role = "unit"
)

// Roles lists every role of a signed-in user (the anonymous citizen has none).
var Roles = []Role{RoleAdmin, RoleOperator, RoleLeader, RoleUnit}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Errors callers branch on.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrBadLogin     = errors.New("wrong user name or password")
	ErrInvalid      = errors.New("invalid")
	ErrUnauthorized = errors.New("not signed in")
)

// User is a local account. Areas scope an operator to admin area codes (any level, as in an entity's
// areas: "836" for a district; empty: every area); Unit names the unit whose reports a unit staff
// member handles, exactly as the report catalogue routes them.
type User struct {
	Name         string    `json:"name"`
	DisplayName  string    `json:"display_name,omitempty"`
	Role         Role      `json:"role"`
	Areas        []string  `json:"areas,omitempty"`
	Unit         string    `json:"unit,omitempty"`
	Disabled     bool      `json:"disabled"`
	Created      time.Time `json:"created"`
	PasswordHash string    `json:"-"`
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,63}$`)
	codeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Check reports what is wrong with u's fields (not its password).
func (u User) Check() error {
	var errs []error
	if !nameRE.MatchString(u.Name) {
		errs = append(errs, fmt.Errorf("name: 2 to 64 of a-z 0-9 . _ @ - starting with a letter or digit, got %q", u.Name))
	}
	if !u.Role.Valid() {
		errs = append(errs, fmt.Errorf("role: must be one of admin, operator, leader, unit, got %q", u.Role))
	}
	for _, a := range u.Areas {
		if !codeRE.MatchString(a) {
			errs = append(errs, fmt.Errorf("areas: %q is not an area code", a))
		}
	}
	if len(u.Areas) > 0 && u.Role != RoleOperator {
		errs = append(errs, fmt.Errorf("areas: only operators are scoped to areas"))
	}
	switch {
	case u.Role == RoleUnit && (u.Unit == "" || len(u.Unit) > 200 || !utf8.ValidString(u.Unit) || strings.ContainsFunc(u.Unit, unicode.IsControl)):
		errs = append(errs, fmt.Errorf("unit: unit staff need their unit, as the report catalogue names it (at most 200 bytes)"))
	case u.Role != RoleUnit && u.Unit != "":
		errs = append(errs, fmt.Errorf("unit: only unit staff belong to a unit"))
	}
	if len(u.DisplayName) > 200 {
		errs = append(errs, fmt.Errorf("display_name: at most 200 bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Token is an API token for integrations. It acts as its user; only the SHA-256 of its secret is kept.
type Token struct {
	ID       string     `json:"id"`
	User     string     `json:"user"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Hash     []byte     `json:"-"`
}

// Session is a signed-in browser. Only the SHA-256 of the cookie value is kept.
type Session struct {
	Hash    []byte
	User    string
	Created time.Time
	Expires time.Time
}

// SSOSession is what ioc keeps of the provider's side of a session opened through single sign-on:
// the provider's session id (sid, for back-channel logout), the subject, the ID token (the
// id_token_hint of RP-initiated logout) and the refresh token (revalidation). The tokens stay in
// the store: never logged, audited or shown.
type SSOSession struct {
	Hash         []byte // the session's
	SID          string
	Subject      string
	IDToken      string
	RefreshToken string
	Checked      time.Time // last confirmed with the provider (sign-in, revalidation)
}

// Principal is who is calling: a user through a session or a token.
type Principal struct {
	User    string   `json:"user"`
	Role    Role     `json:"role"`
	Areas   []string `json:"areas,omitempty"`
	Unit    string   `json:"unit,omitempty"`
	Via     string   `json:"via"`                // session | token
	TokenID string   `json:"token_id,omitempty"` // when Via is token
}

// SeesArea reports whether an area-scoped principal may see something in the given areas (values
// of an item's area map, any level). Principals without scope see every area.
func (p *Principal) SeesArea(areas map[string]string) bool {
	if p == nil || len(p.Areas) == 0 {
		return true
	}
	for _, code := range areas {
		if slices.Contains(p.Areas, code) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal of a request context, nil for an anonymous caller.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// AuditEntry is one recorded action.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"` // user name, "" for an anonymous attempt
	Role    Role      `json:"role,omitempty"`
	Action  string    `json:"action"` // the route pattern, or login, login_failed, logout …
	Method  string    `json:"method,omitempty"`
	Path    string    `json:"path,omitempty"`
	Status  int       `json:"status,omitempty"`
	IP      string    `json:"ip,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	TokenID string    `json:"token_id,omitempty"`
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Actor    string
	Action   string
	From, To time.Time // zero: unbounded
	Limit    int
}
