package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// maxAuthBody bounds the JSON bodies of the account API.
const maxAuthBody = 16 << 10

// Register mounts the account API on mux:
//
//	POST   /api/v1/auth/login          {"user": "…", "password": "…"} → the caller, and the session cookie
//	POST   /api/v1/auth/logout
//	GET    /api/v1/auth/me
//	GET    /api/v1/admin/users          POST /api/v1/admin/users   PUT /api/v1/admin/users/{name}
//	GET    /api/v1/admin/tokens?user=   POST /api/v1/admin/tokens  DELETE /api/v1/admin/tokens/{id}
//	GET    /api/v1/admin/audit?actor=&action=&from=&to=&limit=
//	GET    /auth/oidc/login             GET /auth/oidc/callback   single sign-on (oidc.go); 404 when not configured
//	POST   /auth/oidc/backchannel-logout                          the provider ends SSO sessions (oidc_logout.go)
//
// secure marks the cookie Secure (the server runs TLS).
func (s *Service) Register(mux *http.ServeMux, secure bool) {
	h := func(fn httpapi.HandlerFunc) http.Handler { return httpapi.Wrap(s.log, fn) }
	a := &api{s: s, secure: secure}
	o := newOIDCFlow(a)
	a.oidc = o
	if o.cfg.Enabled() {
		s.sso = o
	}
	mux.Handle("POST /api/v1/auth/login", h(a.login))
	mux.Handle("POST /api/v1/auth/logout", h(a.logout))
	mux.Handle("GET /api/v1/auth/me", h(a.me))
	mux.Handle("GET /api/v1/admin/users", h(a.users))
	mux.Handle("POST /api/v1/admin/users", h(a.createUser))
	mux.Handle("PUT /api/v1/admin/users/{name}", h(a.updateUser))
	mux.Handle("GET /api/v1/admin/tokens", h(a.tokens))
	mux.Handle("POST /api/v1/admin/tokens", h(a.createToken))
	mux.Handle("DELETE /api/v1/admin/tokens/{id}", h(a.revokeToken))
	mux.Handle("GET /api/v1/admin/audit", h(a.audit))
	mux.Handle("GET "+oidcLoginPath, o.handle(o.login))
	mux.Handle("GET "+oidcCallbackPath, o.handle(o.callback))
	mux.Handle("POST "+oidcBackchannelPath, h(o.backchannel))
}

type api struct {
	s      *Service
	secure bool
	oidc   *oidcFlow
}

func (a *api) cookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode}
	if a.s.cfg.SameSite == "strict" {
		c.SameSite = http.SameSiteStrictMode
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

func apiError(err error) error {
	var be *BackoffError
	switch {
	case errors.As(err, &be):
		return httpapi.Errorf(http.StatusTooManyRequests, "login_backoff", "đăng nhập sai nhiều lần, thử lại sau %s / %v",
			be.Wait.Round(time.Second), err)
	case errors.Is(err, ErrBusy):
		return httpapi.Errorf(http.StatusServiceUnavailable, "login_busy", "quá nhiều người đăng nhập cùng lúc, hãy thử lại / %v", err)
	case errors.Is(err, ErrBadLogin):
		return httpapi.Errorf(http.StatusUnauthorized, "bad_credentials", "sai tên đăng nhập hoặc mật khẩu / wrong user name or password")
	case errors.Is(err, ErrInvalid):
		return httpapi.BadRequest("dữ liệu không hợp lệ / %v", err)
	case errors.Is(err, ErrExists):
		return httpapi.Conflict("đã tồn tại / %v", err)
	case errors.Is(err, ErrNotFound):
		return httpapi.NotFound("không tìm thấy / %v", err)
	case errors.Is(err, ErrUnauthorized):
		return httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "%v", err)
	}
	return err
}

func (a *api) login(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := httpapi.DecodeJSON(w, r, maxAuthBody, &body); err != nil {
		return err
	}
	// Whatever session the browser brought is ended: a sign-in always gets a new id (no fixation).
	if c, err := r.Cookie(CookieName); err == nil {
		if err := a.s.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	raw, p, err := a.s.Login(r.Context(), body.User, body.Password, clientIP(r))
	if err != nil {
		var be *BackoffError
		if errors.As(err, &be) {
			w.Header().Set("Retry-After", strconv.Itoa(int(be.Wait.Seconds())+1))
		} else if errors.Is(err, ErrBusy) {
			w.Header().Set("Retry-After", "1")
		}
		if errors.Is(err, ErrBadLogin) || errors.As(err, &be) {
			a.s.Audit(r.Context(), AuditEntry{Actor: strings.ToLower(strings.TrimSpace(body.User)), Action: "login_failed",
				Method: r.Method, Path: r.URL.Path, IP: clientIP(r), Detail: err.Error()})
		}
		return apiError(err)
	}
	http.SetCookie(w, a.cookie(raw, a.s.now().Add(a.s.cfg.SessionTTL)))
	a.s.Audit(r.Context(), AuditEntry{Actor: p.User, Role: p.Role, Action: "login", Method: r.Method, Path: r.URL.Path,
		Status: http.StatusOK, IP: clientIP(r)})
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

// logout ends the browser's session: 204, or, for a session opened through single sign-on at a
// provider with an end_session_endpoint, 200 {"logout_url": …} where the page sends the browser to
// end the provider's session too (else the next SSO click signs the same person in again).
func (a *api) logout(w http.ResponseWriter, r *http.Request) error {
	var next string
	if c, err := r.Cookie(CookieName); err == nil {
		ss, err := a.s.st.SSOSession(r.Context(), hashOf(c.Value))
		switch {
		case err == nil:
			if next, err = a.oidc.endSessionURL(r.Context(), ss); err != nil {
				a.s.log.Warn("the provider's session is not ended (its logout endpoint is unknown)", "error", err)
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if err := a.s.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, a.cookie("", time.Time{}))
	status := http.StatusNoContent
	if next != "" {
		status = http.StatusOK
	}
	if p := From(r.Context()); p != nil {
		a.s.Audit(r.Context(), AuditEntry{Actor: p.User, Role: p.Role, Action: "logout", Method: r.Method, Path: r.URL.Path,
			Status: status, IP: clientIP(r)})
	}
	if next != "" {
		w.Header().Set("Cache-Control", "no-store")
		return httpapi.WriteJSON(w, status, map[string]string{"logout_url": next})
	}
	w.WriteHeader(status)
	return nil
}

func (a *api) me(w http.ResponseWriter, r *http.Request) error {
	p := From(r.Context())
	if p == nil {
		return apiError(ErrUnauthorized)
	}
	return httpapi.WriteJSON(w, http.StatusOK, p)
}

func (a *api) users(w http.ResponseWriter, r *http.Request) error {
	us, err := a.s.st.Users(r.Context())
	if err != nil {
		return err
	}
	if us == nil {
		us = []User{}
	}
	for i := range us {
		us[i].Created = us[i].Created.In(vietnam)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"users": us})
}

type userBody struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name"`
	Role        Role     `json:"role"`
	Areas       []string `json:"areas"`
	Unit        string   `json:"unit"`
	Disabled    bool     `json:"disabled"`
	Password    string   `json:"password"`
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) error {
	var b userBody
	if err := httpapi.DecodeJSON(w, r, maxAuthBody, &b); err != nil {
		return err
	}
	u := User{Name: b.Name, DisplayName: b.DisplayName, Role: b.Role, Areas: b.Areas, Unit: b.Unit, Disabled: b.Disabled}
	if err := a.s.AddUser(r.Context(), u, b.Password); err != nil {
		return apiError(err)
	}
	u, err := a.s.st.User(r.Context(), u.Name)
	if err != nil {
		return err
	}
	u.Created = u.Created.In(vietnam)
	return httpapi.WriteJSON(w, http.StatusCreated, u)
}

func (a *api) updateUser(w http.ResponseWriter, r *http.Request) error {
	var b userBody
	if err := httpapi.DecodeJSON(w, r, maxAuthBody, &b); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := a.s.st.User(ctx, r.PathValue("name"))
	if err != nil {
		return apiError(err)
	}
	if b.Name != "" && b.Name != u.Name {
		return httpapi.BadRequest("name: cannot be changed")
	}
	u.DisplayName, u.Role, u.Areas, u.Unit, u.Disabled = b.DisplayName, b.Role, b.Areas, b.Unit, b.Disabled
	if err := u.Check(); err != nil {
		return apiError(err)
	}
	if p := From(ctx); p != nil && p.User == u.Name && (u.Role != RoleAdmin || u.Disabled) {
		return httpapi.Conflict("không thể tự hạ quyền hoặc tự khoá / you cannot demote or disable yourself")
	}
	if err := a.s.UpdateUser(ctx, u); err != nil { // ends sessions; revokes tokens when disabling
		return apiError(err)
	}
	if b.Password != "" {
		if err := a.s.SetPassword(ctx, u.Name, b.Password); err != nil {
			return apiError(err)
		}
	}
	u.Created = u.Created.In(vietnam)
	return httpapi.WriteJSON(w, http.StatusOK, u)
}

func (a *api) tokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.s.st.Tokens(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []Token{}
	}
	for i := range ts {
		ts[i] = tokenInVietnam(ts[i])
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		User string `json:"user"`
		Name string `json:"name"`
	}
	if err := httpapi.DecodeJSON(w, r, maxAuthBody, &b); err != nil {
		return err
	}
	t, secret, err := a.s.CreateToken(r.Context(), b.User, b.Name)
	if err != nil {
		return apiError(err)
	}
	return httpapi.WriteJSON(w, http.StatusCreated, map[string]any{"token": tokenInVietnam(t), "secret": secret})
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return apiError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *api) audit(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q := AuditQuery{Actor: v.Get("actor"), Action: v.Get("action")}
	var err error
	if q.From, err = httpapi.ParseTime(v.Get("from"), time.Time{}); err != nil {
		return httpapi.BadRequest("from: %v", err)
	}
	if q.To, err = httpapi.ParseTime(v.Get("to"), time.Time{}); err != nil {
		return httpapi.BadRequest("to: %v", err)
	}
	if l := v.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 5000 {
			return httpapi.BadRequest("limit: 1 to 5000")
		}
	}
	es, err := a.s.st.Audit(r.Context(), q)
	if err != nil {
		return err
	}
	if es == nil {
		es = []AuditEntry{}
	}
	for i := range es {
		es[i].At = es[i].At.In(vietnam)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"entries": es})
}

// vietnam is Asia/Ho_Chi_Minh (UTC+7), the offset API times are given in.
var vietnam = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// tokenInVietnam gives a token's times the +07:00 offset API answers use.
func tokenInVietnam(t Token) Token {
	t.Created = t.Created.In(vietnam)
	for _, p := range []**time.Time{&t.LastUsed, &t.Revoked} {
		if *p != nil {
			v := (*p).In(vietnam)
			*p = &v
		}
	}
	return t
}
