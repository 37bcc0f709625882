package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// OIDCConfig configures optional single sign-on through an OpenID Connect provider (auth.oidc):
// the authorization code flow with PKCE, state and nonce, after which the provider's ID token opens
// the same local session as a password sign-in. An empty Issuer leaves it off.
//
// The provider names a local account (UserClaim) and, when RoleClaim is set, its role: the first
// entry of Roles whose Value is among the claim's values wins, and the account's role, areas and
// unit are set from it at every sign-in.
type OIDCConfig struct {
	Issuer       string `yaml:"issuer"`        // exactly as the provider's discovery document gives it
	ClientID     string `yaml:"client_id"`     //
	ClientSecret string `yaml:"client_secret"` // IOC_AUTH_OIDC_CLIENT_SECRET(_FILE); empty: a public client or private_key_jwt
	// ClientKeyFile, instead of a client secret, authenticates ioc at the token endpoint with
	// private_key_jwt (RFC 7523): a PEM private key (RSA 2048+, EC P-256 or P-384) whose public key is
	// registered at the provider; ClientKeyID is its kid there (optional).
	ClientKeyFile string `yaml:"client_key_file"`
	ClientKeyID   string `yaml:"client_key_id"`
	RedirectURL   string `yaml:"redirect_url"` // https://ioc.example.vn/auth/oidc/callback, registered at the provider
	// PostLogoutRedirectURL is where the provider sends the browser after signing out of an SSO
	// session (RP-initiated logout), registered at the provider; empty: ioc's own root, the origin
	// of RedirectURL followed by /.
	PostLogoutRedirectURL string `yaml:"post_logout_redirect_url"`
	// Scopes are requested at the provider; openid is required.
	Scopes []string `yaml:"scopes"`
	// UserClaim's value is the local user name (lower-cased). With "email", the provider must also
	// say email_verified.
	UserClaim string `yaml:"user_claim"`
	// RoleClaim is the claim (a string or a list of strings, like groups) whose values Roles maps to
	// roles. It is a path through nested claims, dot-separated, as Keycloak sends roles:
	// realm_access.roles or resource_access.<client>.roles (a client id with dots in it is found:
	// the longest key that matches wins at each level). A value and a Roles entry match with or
	// without a leading "/" (Keycloak's group mapper sends full paths, /ioc-admins). Empty: the
	// provider only authenticates, the local account keeps its role.
	RoleClaim string     `yaml:"role_claim"`
	Roles     []OIDCRole `yaml:"roles"`
	// AreasClaim and UnitClaim optionally give an operator's area codes and unit staff's unit (paths
	// like RoleClaim); where the claim is absent, the matching Roles entry's areas or unit are used.
	AreasClaim string `yaml:"areas_claim"`
	UnitClaim  string `yaml:"unit_claim"`
	// UnknownUsers says what happens to a provider account without a local account: refuse, or
	// provision (create it with the mapped role; it has no usable password).
	UnknownUsers string `yaml:"unknown_users"`
	// RevalidateEvery is how often an SSO session is confirmed with the provider (a refresh token
	// grant, at the session's first request once this has passed): a user disabled at the provider,
	// or whose provider session ended, loses the session; new roles apply. 0: never (the session
	// lives its session_ttl whatever the provider says).
	RevalidateEvery time.Duration `yaml:"revalidate_every"`
	// UnreachableGrace is how long an SSO session is kept while the provider cannot be asked (no
	// answer, a 5xx): a session last confirmed longer ago than this ends. 0: it ends at the first
	// revalidation the provider does not answer.
	UnreachableGrace time.Duration `yaml:"unreachable_grace"`
}

// OIDCRole maps one value of the role claim (a group) to a role, with an operator's areas or unit
// staff's unit.
type OIDCRole struct {
	Value string   `yaml:"value"`
	Role  Role     `yaml:"role"`
	Areas []string `yaml:"areas"`
	Unit  string   `yaml:"unit"`
}

// The ways to treat a provider account that has no local account.
const (
	UnknownRefuse    = "refuse"
	UnknownProvision = "provision"
)

// OIDC routes.
const (
	oidcLoginPath       = "/auth/oidc/login"
	oidcCallbackPath    = "/auth/oidc/callback"
	oidcBackchannelPath = "/auth/oidc/backchannel-logout" // registered at the provider as backchannel_logout_uri
)

func oidcDefaults() OIDCConfig {
	return OIDCConfig{Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"}, UserClaim: "preferred_username",
		RoleClaim: "groups", UnknownUsers: UnknownRefuse, RevalidateEvery: 5 * time.Minute, UnreachableGrace: 30 * time.Minute}
}

// Enabled reports whether single sign-on is configured.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" }

// Validate reports every problem, keys relative to the auth section (oidc.…). It does no I/O: the
// provider is asked for its configuration at the first sign-in.
func (c OIDCConfig) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("oidc.%s: "+format, append([]any{key}, args...)...))
	}
	if !c.Enabled() {
		if c.ClientID != "" || c.RedirectURL != "" || len(c.Roles) > 0 {
			add("issuer", "must be set to turn single sign-on on (client_id, redirect_url or roles are set)")
		}
		return errors.Join(errs...)
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && loopbackHost(u.Hostname())) {
		add("issuer", "must be an https URL without query (http only on loopback), got %q", c.Issuer)
	}
	if c.ClientID == "" {
		add("client_id", "must be set")
	}
	if c.ClientKeyFile != "" && c.ClientSecret != "" {
		add("client_key_file", "private_key_jwt and client_secret exclude each other: set one")
	}
	if c.ClientKeyID != "" && c.ClientKeyFile == "" {
		add("client_key_id", "needs client_key_file")
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != oidcCallbackPath {
		add("redirect_url", "must be ioc's own address ending in %s, got %q", oidcCallbackPath, c.RedirectURL)
	}
	if u, err := url.Parse(c.PostLogoutRedirectURL); c.PostLogoutRedirectURL != "" && (err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http")) {
		add("post_logout_redirect_url", "must be an absolute http(s) URL (or empty for ioc's root), got %q", c.PostLogoutRedirectURL)
	}
	if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		add("scopes", "must include openid")
	}
	if c.UserClaim == "" {
		add("user_claim", "must name the claim that gives the local user name (preferred_username, email, sub)")
	}
	for _, p := range [][2]string{{"user_claim", c.UserClaim}, {"role_claim", c.RoleClaim}, {"areas_claim", c.AreasClaim}, {"unit_claim", c.UnitClaim}} {
		if p[1] != "" && slices.Contains(strings.Split(p[1], "."), "") {
			add(p[0], "a claim path has no empty part (realm_access.roles), got %q", p[1])
		}
	}
	switch {
	case c.RoleClaim != "" && len(c.Roles) == 0:
		add("roles", "map at least one value of %s to a role, or set role_claim: \"\" to keep local roles", c.RoleClaim)
	case c.RoleClaim == "" && len(c.Roles) > 0:
		add("role_claim", "must be set for roles to apply")
	}
	for i, m := range c.Roles {
		key := fmt.Sprintf("roles[%d]", i)
		if m.Value == "" {
			add(key+".value", "must be set")
		}
		if !m.Role.Valid() {
			add(key+".role", "must be one of admin, operator, leader, unit, got %q", m.Role)
		}
		for _, a := range m.Areas {
			if !codeRE.MatchString(a) {
				add(key+".areas", "%q is not an area code", a)
			}
		}
		if len(m.Areas) > 0 && m.Role != RoleOperator {
			add(key+".areas", "only operators are scoped to areas")
		}
		switch {
		case m.Role == RoleUnit && m.Unit == "" && c.UnitClaim == "":
			add(key+".unit", "unit staff need their unit (or set unit_claim)")
		case m.Role != RoleUnit && m.Unit != "":
			add(key+".unit", "only unit staff belong to a unit")
		}
	}
	if c.RevalidateEvery < 0 {
		add("revalidate_every", "must not be negative (0 turns revalidation off), got %s", c.RevalidateEvery)
	}
	if c.UnreachableGrace < 0 {
		add("unreachable_grace", "must not be negative, got %s", c.UnreachableGrace)
	}
	switch c.UnknownUsers {
	case UnknownRefuse:
	case UnknownProvision:
		if c.RoleClaim == "" {
			add("unknown_users", "provision needs role_claim and roles: a new account needs a role")
		}
	default:
		add("unknown_users", "must be refuse or provision, got %q", c.UnknownUsers)
	}
	return errors.Join(errs...)
}

// postLogoutURL is where the provider sends the browser after RP-initiated logout.
func (c OIDCConfig) postLogoutURL() string {
	if c.PostLogoutRedirectURL != "" {
		return c.PostLogoutRedirectURL
	}
	u, err := url.Parse(c.RedirectURL)
	if err != nil { // Validate refused it
		return "/"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}).String()
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// oidcFlow signs users in through the provider. The provider's configuration is fetched at the
// first sign-in (so ioc starts while the provider is down) and kept once it was found.
type oidcFlow struct {
	a      *api
	cfg    OIDCConfig
	client *http.Client

	jtis seenJTIs // of back-channel logout tokens
	rv   revalidation

	token atomic.Pointer[string] // the token endpoint, set at discovery (assertionTransport reads it)

	mu sync.Mutex // guards rp
	rp *relyingParty
}

type relyingParty struct {
	provider   *oidc.Provider
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // the provider's end_session_endpoint; empty: it has none
}

// oidcTimeout bounds each call to the provider.
const oidcTimeout = 10 * time.Second

func newOIDCFlow(a *api) *oidcFlow {
	o := &oidcFlow{a: a, cfg: a.s.cfg.OIDC, client: &http.Client{Timeout: oidcTimeout}}
	if a.s.oidcKey != nil {
		o.client.Transport = &assertionTransport{next: http.DefaultTransport, key: a.s.oidcKey, clientID: o.cfg.ClientID,
			issuer: o.cfg.Issuer, tokenURL: o.tokenURL, now: time.Now}
	}
	return o
}

// tokenURL is the provider's token endpoint, "" before discovery.
func (o *oidcFlow) tokenURL() string {
	if p := o.token.Load(); p != nil {
		return *p
	}
	return ""
}

// party returns the relying party, discovering the provider the first time.
func (o *oidcFlow) party(ctx context.Context) (*relyingParty, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.rp != nil {
		return o.rp, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.client), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery at %s: %w", o.cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc discovery at %s: %w", o.cfg.Issuer, err)
	}
	ep := p.Endpoint()
	if o.cfg.ClientKeyFile != "" {
		ep.AuthStyle = oauth2.AuthStyleInParams // client_id in the form, beside the assertion
	}
	o.token.Store(&ep.TokenURL)
	o.rp = &relyingParty{provider: p,
		oauth: oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: ep,
			RedirectURL: o.cfg.RedirectURL, Scopes: o.cfg.Scopes},
		verifier:   p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.a.s.now}),
		endSession: meta.EndSession}
	return o.rp, nil
}

// flowCookie carries the state, nonce and PKCE verifier of one sign-in from /auth/oidc/login to the
// callback: HttpOnly, only sent to /auth/oidc/, for flowTTL.
const (
	flowCookie = "ioc_oidc"
	flowTTL    = 10 * time.Minute
)

type flowState struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

func (o *oidcFlow) flowCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: flowCookie, Value: value, Path: "/auth/oidc/", MaxAge: maxAge, HttpOnly: true,
		Secure: o.a.secure, SameSite: http.SameSiteLaxMode}
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oidc: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// handle renders an error of fn as a page for a browser, as the JSON envelope otherwise.
func (o *oidcFlow) handle(fn httpapi.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		var he *httpapi.Error
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			httpapi.WriteError(w, r, o.a.s.log, err)
			return
		}
		if !errors.As(err, &he) {
			o.a.s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			he = httpapi.Errorf(http.StatusInternalServerError, "internal", "lỗi máy chủ / internal server error")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(he.Status)
		if err := errorPage.Execute(w, he); err != nil {
			o.a.s.log.Warn("error page not written", "error", err)
		}
	})
}

var errorPage = template.Must(template.New("oidc").Parse(`<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Đăng nhập SSO / SSO sign-in</title></head>
<body><h1>Không đăng nhập được / Sign-in failed</h1>
<p>{{.Message}}</p><p><small>{{.Code}}</small></p>
<p><a href="/">Quay lại trang đăng nhập / Back to sign-in</a></p></body></html>
`))

func notConfigured() error {
	return httpapi.NotFound("đăng nhập SSO chưa được cấu hình / single sign-on is not configured")
}

// login starts a sign-in: it sets the flow cookie and sends the browser to the provider.
func (o *oidcFlow) login(w http.ResponseWriter, r *http.Request) error {
	if !o.cfg.Enabled() {
		return notConfigured()
	}
	rp, err := o.party(r.Context())
	if err != nil {
		return o.refuse(r, "", err, http.StatusBadGateway, "oidc_unavailable",
			"nhà cung cấp định danh không trả lời, thử lại sau / the identity provider did not answer, try again later")
	}
	var fs flowState
	for _, p := range []*string{&fs.State, &fs.Nonce, &fs.Verifier} {
		if *p, err = randomString(); err != nil {
			return err
		}
	}
	fs.Expires = o.a.s.now().Add(flowTTL)
	raw, err := json.Marshal(fs)
	if err != nil {
		return fmt.Errorf("oidc flow cookie: %w", err)
	}
	http.SetCookie(w, o.flowCookie(base64.RawURLEncoding.EncodeToString(raw), int(flowTTL.Seconds())))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, rp.oauth.AuthCodeURL(fs.State, oidc.Nonce(fs.Nonce), oauth2.S256ChallengeOption(fs.Verifier)), http.StatusFound)
	return nil
}

// readFlow returns the flow cookie's state if it is there, well-formed and not expired.
func (o *oidcFlow) readFlow(r *http.Request) (flowState, bool) {
	var fs flowState
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return fs, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || json.Unmarshal(raw, &fs) != nil || fs.State == "" || fs.Nonce == "" || fs.Verifier == "" {
		return fs, false
	}
	return fs, o.a.s.now().Before(fs.Expires)
}

// oauthErrorRE is the form of an OAuth error code (RFC 6749 §4.1.2.1); anything else is not shown.
var oauthErrorRE = regexp.MustCompile(`^[a-z_]{1,64}$`)

// callback finishes a sign-in: it checks the state, exchanges the code with the PKCE verifier, verifies
// the ID token (signature, issuer, audience, expiry) and its nonce, maps the claims to a local
// account and opens a session.
func (o *oidcFlow) callback(w http.ResponseWriter, r *http.Request) error {
	if !o.cfg.Enabled() {
		return notConfigured()
	}
	http.SetCookie(w, o.flowCookie("", -1)) // one use, whatever happens
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		if !oauthErrorRE.MatchString(e) {
			e = "invalid_error_code"
		}
		return o.refuse(r, "", fmt.Errorf("provider answered error=%s", e), http.StatusUnauthorized, "oidc_provider_error",
			"nhà cung cấp định danh từ chối đăng nhập (%s) / the identity provider refused the sign-in (%s)", e, e)
	}
	fs, ok := o.readFlow(r)
	if !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(fs.State)) != 1 {
		return o.refuse(r, "", errors.New("state missing, expired or mismatched"), http.StatusBadRequest, "oidc_state",
			"phiên đăng nhập SSO không hợp lệ hoặc đã hết hạn, hãy đăng nhập lại / the SSO sign-in is not valid or has expired, sign in again")
	}
	rp, err := o.party(r.Context())
	if err != nil {
		return o.refuse(r, "", err, http.StatusBadGateway, "oidc_unavailable",
			"nhà cung cấp định danh không trả lời, thử lại sau / the identity provider did not answer, try again later")
	}
	ctx := oidc.ClientContext(r.Context(), o.client)
	tok, err := rp.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(fs.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) { // the provider's error code only: its body is not ours to log
			err = fmt.Errorf("token endpoint answered %d %s", re.Response.StatusCode, re.ErrorCode)
		}
		return o.refuse(r, "", err, http.StatusUnauthorized, "oidc_token",
			"nhà cung cấp định danh không cấp mã đăng nhập / the identity provider did not issue a sign-in token")
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return o.refuse(r, "", errors.New("no id_token in the token response"), http.StatusUnauthorized, "oidc_token",
			"nhà cung cấp định danh không cấp mã định danh / the identity provider issued no ID token")
	}
	idt, err := rp.verifier.Verify(ctx, rawID)
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(fs.Nonce)) != 1 {
		err = errors.New("oidc: id token nonce does not match this sign-in")
	}
	if err != nil {
		return o.refuse(r, "", err, http.StatusUnauthorized, "oidc_token",
			"mã định danh của nhà cung cấp không hợp lệ / the provider's ID token is not valid")
	}
	claims, err := o.claims(ctx, rp, idt, "", tok)
	if err != nil {
		return o.refuse(r, "", err, http.StatusBadGateway, "oidc_unavailable",
			"không đọc được thông tin tài khoản từ nhà cung cấp định danh / the identity provider's user info could not be read")
	}
	u, detail, err := o.account(r, claims)
	if err != nil {
		return err
	}
	// Whatever session the browser brought is ended: a sign-in always gets a new id (no fixation).
	if c, err := r.Cookie(CookieName); err == nil {
		if err := o.a.s.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	raw, p, err := o.a.s.openSession(r.Context(), u)
	if err != nil {
		return err
	}
	sid, _ := claims["sid"].(string)
	if err := o.a.s.st.CreateSSOSession(r.Context(), SSOSession{Hash: hashOf(raw), SID: sid, Subject: idt.Subject,
		IDToken: rawID, RefreshToken: tok.RefreshToken, Checked: o.a.s.now()}); err != nil {
		if lerr := o.a.s.Logout(r.Context(), raw); lerr != nil {
			err = errors.Join(err, lerr)
		}
		return err
	}
	o.a.s.m.logins.WithLabelValues("oidc_ok").Inc()
	http.SetCookie(w, o.a.cookie(raw, o.a.s.now().Add(o.a.s.cfg.SessionTTL)))
	o.a.s.Audit(r.Context(), AuditEntry{Actor: p.User, Role: p.Role, Action: "login", Method: r.Method, Path: r.URL.Path,
		Status: http.StatusSeeOther, IP: clientIP(r), Detail: detail})
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// claims are the ID token's claims, completed from the userinfo endpoint when the ID token lacks
// one ioc needs (providers that follow the spec strictly put profile claims only there).
// Without an ID token (a refresh the provider answered without one), all come from userinfo, whose
// subject must be subject.
func (o *oidcFlow) claims(ctx context.Context, rp *relyingParty, idt *oidc.IDToken, subject string, tok *oauth2.Token) (map[string]any, error) {
	claims := map[string]any{}
	if idt != nil {
		if err := idt.Claims(&claims); err != nil {
			return nil, fmt.Errorf("id token claims: %w", err)
		}
		subject = idt.Subject
	}
	missing := idt == nil
	for _, c := range []string{o.cfg.UserClaim, o.cfg.RoleClaim, o.cfg.AreasClaim, o.cfg.UnitClaim} {
		if _, ok := claimAt(claims, c); c != "" && !ok {
			missing = true
		}
	}
	if !missing || rp.provider.UserInfoEndpoint() == "" {
		return claims, nil
	}
	ui, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	if ui.Subject != subject {
		return nil, fmt.Errorf("userinfo: subject %q is not the ID token's %q", ui.Subject, subject)
	}
	extra := map[string]any{}
	if err := ui.Claims(&extra); err != nil {
		return nil, fmt.Errorf("userinfo claims: %w", err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	o.a.s.log.Debug("claims completed from userinfo", "subject", subject)
	return claims, nil
}

// account finds (or provisions) the local account the claims name and brings its role, areas and
// unit in line with the role mapping. The error is the refusal to show; detail goes to the audit log.
func (o *oidcFlow) account(r *http.Request, claims map[string]any) (User, string, error) {
	ctx := r.Context()
	sub, _ := claims["sub"].(string)
	name := o.accountName(claims)
	if !nameRE.MatchString(name) {
		return User{}, "", o.refuse(r, "", fmt.Errorf("claim %s of subject %q is not a usable user name: %q", o.cfg.UserClaim, sub, name),
			http.StatusForbidden, "oidc_account", "nhà cung cấp định danh không cho biết tên tài khoản hợp lệ / the identity provider gave no valid account name")
	}
	m, mapped := o.mapRole(claims)
	if o.cfg.RoleClaim != "" && !mapped {
		return User{}, "", o.refuse(r, name, fmt.Errorf("no value of claim %s is mapped to a role", o.cfg.RoleClaim), http.StatusForbidden, "oidc_no_role",
			"tài khoản %s chưa được cấp quyền trong ioc / account %s has no role in ioc", name, name)
	}
	u, err := o.a.s.st.User(ctx, name)
	created := false
	switch {
	case errors.Is(err, ErrNotFound) && o.cfg.UnknownUsers == UnknownProvision:
		if u, err = o.provision(r, name, claims, m); err != nil {
			return User{}, "", err
		}
		created = true
	case errors.Is(err, ErrNotFound):
		return User{}, "", o.refuse(r, name, fmt.Errorf("no local account for subject %q", sub), http.StatusForbidden, "oidc_unknown_user",
			"tài khoản %s chưa có trong ioc, hãy nhờ quản trị viên tạo / account %s does not exist in ioc, ask an administrator", name, name)
	case err != nil:
		return User{}, "", err
	case u.Disabled:
		return User{}, "", o.refuse(r, name, errors.New("account is disabled"), http.StatusForbidden, "oidc_disabled",
			"tài khoản %s đã bị khoá / account %s is disabled", name, name)
	}
	if mapped && !created {
		if u, err = o.applyRole(ctx, u, m); errors.Is(err, errBadRole) {
			return User{}, "", o.refuse(r, name, err, http.StatusForbidden, "oidc_account",
				"quyền từ nhà cung cấp định danh không hợp lệ / the identity provider's role for this account is not valid")
		}
		if err != nil {
			return User{}, "", err
		}
	}
	detail := fmt.Sprintf("via oidc (subject %q)", sub)
	if created {
		detail += "; account created"
	}
	return u, detail, nil
}

// errBadRole: the role the provider maps an account to does not make a valid account.
var errBadRole = errors.New("the provider's role is not valid for the account")

// applyRole brings u's role, areas and unit in line with the mapping m, storing the account when
// they change.
func (o *oidcFlow) applyRole(ctx context.Context, u User, m OIDCRole) (User, error) {
	if u.Role == m.Role && slices.Equal(u.Areas, m.Areas) && u.Unit == m.Unit {
		return u, nil
	}
	was := u.Role
	u.Role, u.Areas, u.Unit = m.Role, m.Areas, m.Unit
	if err := u.Check(); err != nil {
		return User{}, fmt.Errorf("%w: %w", errBadRole, err)
	}
	if err := o.a.s.st.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	o.a.s.log.Info("role updated from the identity provider", "user", u.Name, "from", was, "to", u.Role)
	return u, nil
}

// accountName is the local account the claims name ("" when the user claim is missing, or an
// email the provider has not verified); the caller checks it is a valid name.
func (o *oidcFlow) accountName(claims map[string]any) string {
	name, _ := claim(claims, o.cfg.UserClaim).(string)
	if o.cfg.UserClaim == "email" && claims["email_verified"] != true {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// mapRole picks the first Roles entry whose value the role claim carries, with the areas and unit
// claims applied.
func (o *oidcFlow) mapRole(claims map[string]any) (OIDCRole, bool) {
	if o.cfg.RoleClaim == "" {
		return OIDCRole{}, false
	}
	have := claimStrings(claim(claims, o.cfg.RoleClaim))
	for i, v := range have {
		have[i] = strings.TrimPrefix(v, "/")
	}
	for _, m := range o.cfg.Roles {
		if !slices.Contains(have, strings.TrimPrefix(m.Value, "/")) {
			continue
		}
		if areas := claimStrings(claim(claims, o.cfg.AreasClaim)); len(areas) > 0 && m.Role == RoleOperator {
			m.Areas = areas
		}
		if unit, _ := claim(claims, o.cfg.UnitClaim).(string); unit != "" && m.Role == RoleUnit {
			m.Unit = unit
		}
		m.Areas = slices.Clone(m.Areas)
		return m, true
	}
	return OIDCRole{}, false
}

// claimAt finds the claim at a dot-separated path through nested objects (realm_access.roles). At
// each level the longest key that matches the rest of the path wins, so keys with dots in them (a
// top-level "realm_access.roles", a client id "ioc.bentre") are found without escaping.
func claimAt(claims map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	if v, ok := claims[path]; ok {
		return v, true
	}
	for i := strings.LastIndexByte(path, '.'); i > 0; i = strings.LastIndexByte(path[:i], '.') {
		inner, ok := claims[path[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := claimAt(inner, path[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

// claim is the claim at path (claimAt), nil when there is none.
func claim(claims map[string]any, path string) any {
	v, _ := claimAt(claims, path)
	return v
}

// claimStrings reads a claim that is a string or a list of strings.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// provision creates the local account of a provider user. Its password is random and never shown:
// the account signs in through the provider only (until an admin sets a password).
func (o *oidcFlow) provision(r *http.Request, name string, claims map[string]any, m OIDCRole) (User, error) {
	display, _ := claims["name"].(string)
	if len(display) > 200 {
		display = display[:200]
	}
	u := User{Name: name, DisplayName: strings.ToValidUTF8(display, ""), Role: m.Role, Areas: m.Areas, Unit: m.Unit, Created: o.a.s.now()}
	if err := u.Check(); err != nil {
		return User{}, o.refuse(r, name, err, http.StatusForbidden, "oidc_account",
			"quyền từ nhà cung cấp định danh không hợp lệ / the identity provider's role for this account is not valid")
	}
	pw, err := randomString()
	if err != nil {
		return User{}, err
	}
	if u.PasswordHash, err = HashPassword(pw); err != nil {
		return User{}, err
	}
	if err := o.a.s.st.CreateUser(r.Context(), u); err != nil {
		return User{}, err
	}
	o.a.s.log.Info("account created from the identity provider", "user", name, "role", u.Role)
	return u, nil
}

// refuse records a failed SSO sign-in (audit log, metric, log line) and returns the error to show.
// actor is the account concerned, once known. cause goes to the audit log and the log, never to the
// browser; it must not carry secrets.
func (o *oidcFlow) refuse(r *http.Request, actor string, cause error, status int, code, format string, args ...any) error {
	detail := cause.Error()
	if len(detail) > 300 { // a provider's error page quoted by the library
		detail = strings.ToValidUTF8(detail[:300], "") + "…"
	}
	o.a.s.m.logins.WithLabelValues("oidc_refused").Inc()
	o.a.s.log.Warn("sso sign-in refused", "reason", code, "user", actor, "error", detail)
	o.a.s.Audit(r.Context(), AuditEntry{Actor: actor, Action: "login_failed", Method: r.Method, Path: r.URL.Path,
		Status: status, IP: clientIP(r), Detail: "via oidc: " + detail})
	return httpapi.Errorf(status, code, format, args...)
}
