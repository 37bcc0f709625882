package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a Service and its Guard around a mux with the account API and a few test routes.
type harness struct {
	t     testing.TB
	svc   *Service
	srv   *httptest.Server
	clock *clock
	logs  *syncBuffer
	seen  chan string // query strings of GET /test/list and /test/one
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const adminPassword = "mật-khẩu-quản-trị-2026"

func newHarness(t testing.TB, edit func(*Config, *GuardOptions)) *harness {
	t.Helper()
	cfg := Defaults()
	cfg.Store.Path = filepath.Join(t.TempDir(), "auth.db")
	cfg.RateLimitIP, cfg.RateLimitToken = "", ""
	opts := GuardOptions{MaxBody: 1024}
	if edit != nil {
		edit(&cfg, &opts)
	}
	st, err := OpenStore(context.Background(), cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}, seen: make(chan string, 10)}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.svc, err = New(cfg, st, Options{Log: log, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.EnsureAdmin(context.Background(), "admin", adminPassword, ""); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.svc.Register(mux, opts.TLS)
	mux.HandleFunc("POST /test/write", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		io.WriteString(w, "wrote as "+From(r.Context()).User)
	})
	seenQuery := func(w http.ResponseWriter, r *http.Request) { h.seen <- r.URL.RawQuery }
	mux.HandleFunc("GET /test/list", seenQuery)
	mux.HandleFunc("GET /test/one", seenQuery)
	mux.HandleFunc("GET /test/unruled", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	if opts.Policy == nil {
		opts.Policy = DefaultPolicy()
	}
	opts.Policy["POST /test/write"] = post(Desk)
	opts.Policy["GET /test/list"] = Rule{Read: Handlers, Scope: ScopeReportList}
	opts.Policy["GET /test/one"] = Rule{Read: Staff, Scope: ScopeAreaParam}
	g, err := h.svc.Guard(mux, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(g)
	t.Cleanup(h.srv.Close)
	return h
}

// do sends a request with optional headers and returns the status and body.
func (h *harness) do(method, path, body string, hdr map[string]string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login signs in and returns the session cookie value ("" when refused) and the response.
func (h *harness) login(user, password string, hdr map[string]string) (string, *http.Response) {
	h.t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "password": password})
	resp, _ := h.do("POST", "/api/v1/auth/login", string(body), hdr)
	for _, c := range resp.Cookies() {
		if c.Name == CookieName && c.MaxAge >= 0 {
			return c.Value, resp
		}
	}
	return "", resp
}

func (h *harness) addUser(u User, password string) {
	h.t.Helper()
	if err := h.svc.AddUser(context.Background(), u, password); err != nil {
		h.t.Fatal(err)
	}
}

func cookie(v string) map[string]string { return map[string]string{"Cookie": CookieName + "=" + v} }

func TestLoginIssuesAFreshSessionEveryTime(t *testing.T) {
	h := newHarness(t, nil)
	first, resp := h.login("admin", adminPassword, nil)
	if first == "" {
		t.Fatalf("login refused: %d", resp.StatusCode)
	}
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		c = x
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie attributes %+v: want HttpOnly, SameSite=Lax, not Secure without TLS", c)
	}
	// Signing in again while presenting the first session (or one an attacker planted) gives a new
	// id and ends the presented one.
	second, _ := h.login("admin", adminPassword, cookie(first))
	if second == "" || second == first {
		t.Fatalf("second login kept the session id %q", second)
	}
	if resp, _ := h.do("GET", "/api/v1/auth/me", "", cookie(first)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old session still valid: %d", resp.StatusCode)
	}
	if resp, body := h.do("GET", "/api/v1/auth/me", "", cookie(second)); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"role":"admin"`) {
		t.Errorf("new session: %d %s", resp.StatusCode, body)
	}
	planted := "attacker-chosen-session-value"
	third, _ := h.login("admin", adminPassword, cookie(planted))
	if third == planted {
		t.Error("login adopted a planted session id")
	}
	// Logout ends the session.
	if resp, _ := h.do("POST", "/api/v1/auth/logout", "", cookie(third)); resp.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/api/v1/auth/me", "", cookie(third)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session valid after logout: %d", resp.StatusCode)
	}
}

func TestSessionCookieSecureUnderTLSAndHSTS(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *GuardOptions) { o.TLS = true })
	_, resp := h.login("admin", adminPassword, nil)
	cs := resp.Cookies()
	if len(cs) != 1 || !cs[0].Secure {
		t.Errorf("cookies %+v: want one Secure cookie under TLS", cs)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS under TLS")
	}
	plain := newHarness(t, nil)
	if resp, _ := plain.do("GET", "/healthz", "", nil); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent without TLS")
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *GuardOptions) { o.ImgSources = []string{"https://tiles.bentre.example"} })
	for _, path := range []string{"/healthz", "/api/v1/auth/me", "/test/unruled", "/no/such/route"} {
		resp, _ := h.do("GET", path, "", nil)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "https://tiles.bentre.example") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
}

func TestCrossOriginWritesWithCookieAreRefused(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *GuardOptions) { o.TrustedOrigins = []string{"https://ioc.bentre.example"} })
	sess, _ := h.login("admin", adminPassword, nil)
	_, secret, err := h.svc.CreateToken(context.Background(), "admin", "tích hợp")
	if err != nil {
		t.Fatal(err)
	}
	withCookie := func(extra map[string]string) map[string]string {
		m := cookie(sess)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"cookie, foreign Origin", withCookie(map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden},
		{"cookie, Sec-Fetch-Site cross-site", withCookie(map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden},
		{"cookie, Sec-Fetch-Site same-site", withCookie(map[string]string{"Sec-Fetch-Site": "same-site"}), http.StatusForbidden},
		{"cookie, same origin", withCookie(map[string]string{"Origin": h.srv.URL, "Sec-Fetch-Site": "same-origin"}), http.StatusOK},
		{"cookie, trusted origin", withCookie(map[string]string{"Origin": "https://ioc.bentre.example"}), http.StatusOK},
		{"token, foreign Origin", map[string]string{"Authorization": "Bearer " + secret, "Origin": "https://evil.example"}, http.StatusOK},
	} {
		if resp, body := h.do("POST", "/test/write", "{}", tc.hdr); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	// Login CSRF: a foreign page cannot sign a browser in either.
	if _, resp := h.login("admin", adminPassword, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", resp.StatusCode)
	}
}

func TestRevokedTokenIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	sess, _ := h.login("admin", adminPassword, nil)
	admin := cookie(sess)
	admin["Origin"] = h.srv.URL
	resp, body := h.do("POST", "/api/v1/admin/tokens", `{"user":"admin","name":"trạm quan trắc"}`, admin)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create token: %d %s", resp.StatusCode, body)
	}
	var created struct {
		Token  Token  `json:"token"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + created.Secret}
	if resp, body := h.do("POST", "/test/write", "{}", bearer); resp.StatusCode != http.StatusOK || body != "wrote as admin" {
		t.Fatalf("token before revocation: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("DELETE", "/api/v1/admin/tokens/"+created.Token.ID, "", admin); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	for _, path := range []string{"/test/write", "/healthz"} {
		method := map[string]string{"/test/write": "POST", "/healthz": "GET"}[path]
		if resp, _ := h.do(method, path, "", bearer); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a revoked token: %d, want 401", method, path, resp.StatusCode)
		}
	}
	// The hash is stored, never the secret.
	ts, err := h.svc.Store().Tokens(context.Background(), "admin")
	if err != nil || len(ts) != 1 || bytes.Contains(ts[0].Hash, []byte(created.Secret)) || len(ts[0].Hash) != 32 {
		t.Errorf("stored token %+v, %v", ts, err)
	}
}

func TestLoginBackoffAfterFailures(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *GuardOptions) {
		c.LoginFailures, c.LoginBackoff, c.LoginBackoffMax = 3, 2*time.Second, time.Minute
	})
	for i := range 3 {
		if _, resp := h.login("admin", "wrong password "+string(rune('a'+i)), nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	// Now even the right password waits.
	sess, resp := h.login("admin", adminPassword, nil)
	if resp.StatusCode != http.StatusTooManyRequests || sess != "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during backoff: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	h.clock.Add(2 * time.Second)
	if _, resp := h.login("admin", "still wrong password", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the first wait: %d, want 401", resp.StatusCode)
	}
	h.clock.Add(2 * time.Second) // the wait doubled to 4s
	if _, resp := h.login("admin", adminPassword, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("wait did not double: %d", resp.StatusCode)
	}
	h.clock.Add(2 * time.Second)
	if sess, resp := h.login("admin", adminPassword, nil); sess == "" {
		t.Fatalf("after the backoff: %d", resp.StatusCode)
	}
	// Guessing across user names from one address is slowed too.
	h.addUser(User{Name: "lead.hoa", Role: RoleLeader}, "mật-khẩu-lãnh-đạo")
	for _, name := range []string{"a1", "b2", "c3", "d4"} {
		h.login(name, "guess-guess-guess", nil)
	}
	if _, resp := h.login("lead.hoa", "mật-khẩu-lãnh-đạo", nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("address backoff: %d, want 429", resp.StatusCode)
	}
	es, err := h.svc.Store().Audit(context.Background(), AuditQuery{Action: "login_failed"})
	if err != nil || len(es) < 5 {
		t.Errorf("failed logins in the audit log: %d, %v", len(es), err)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	h := newHarness(t, nil)
	h.login("admin", "a-wrong-password-123", nil)
	sess, _ := h.login("admin", adminPassword, nil)
	_, secret, err := h.svc.CreateToken(context.Background(), "admin", "kho dữ liệu")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RevokeToken(context.Background(), strings.Split(secret, "_")[1]); err != nil {
		t.Fatal(err)
	}
	h.do("GET", "/healthz", "", map[string]string{"Authorization": "Bearer " + secret})
	h.do("POST", "/test/write", "{}", cookie(sess))
	es, err := h.svc.Store().Audit(context.Background(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := json.Marshal(es)
	logs := h.logs.String()
	if !strings.Contains(logs, "first admin account created") || len(es) == 0 {
		t.Fatalf("nothing was logged or audited; the test would prove nothing:\n%s", logs)
	}
	for _, s := range []string{adminPassword, "a-wrong-password-123", secret, sess} {
		if strings.Contains(logs, s) || strings.Contains(string(audit), s) {
			t.Errorf("secret %q appears in the log or the audit log", s)
		}
	}
}

func TestRouteWithoutRuleIsRefusedToEveryone(t *testing.T) {
	h := newHarness(t, nil)
	sess, _ := h.login("admin", adminPassword, nil)
	if resp, _ := h.do("GET", "/test/unruled", "", cookie(sess)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin on a route without a rule: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.do("GET", "/test/unruled", "", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous on a route without a rule: %d, want 403", resp.StatusCode)
	}
	if !strings.Contains(h.logs.String(), "GET /test/unruled") {
		t.Error("the route without a rule was not named in the log")
	}
}

func TestRolesAndAudit(t *testing.T) {
	h := newHarness(t, nil)
	h.addUser(User{Name: "op.lan", Role: RoleOperator}, "mật-khẩu-trực-ban")
	h.addUser(User{Name: "lead.hoa", Role: RoleLeader}, "mật-khẩu-lãnh-đạo")
	op, _ := h.login("op.lan", "mật-khẩu-trực-ban", nil)
	lead, _ := h.login("lead.hoa", "mật-khẩu-lãnh-đạo", nil)
	adm, _ := h.login("admin", adminPassword, nil)
	for _, tc := range []struct {
		who, method, path string
		sess              string
		want              int
	}{
		{"anonymous", "POST", "/test/write", "", http.StatusUnauthorized},
		{"leader", "POST", "/test/write", lead, http.StatusForbidden},
		{"operator", "POST", "/test/write", op, http.StatusOK},
		{"operator", "GET", "/api/v1/admin/audit", op, http.StatusForbidden},
		{"leader", "GET", "/api/v1/auth/me", lead, http.StatusOK},
		{"anonymous", "GET", "/api/v1/auth/me", "", http.StatusUnauthorized},
	} {
		hdr := map[string]string{}
		if tc.sess != "" {
			hdr = cookie(tc.sess)
		}
		if resp, body := h.do(tc.method, tc.path, "{}"[:map[bool]int{true: 2, false: 0}[tc.method == "POST"]], hdr); resp.StatusCode != tc.want {
			t.Errorf("%s %s %s: %d %s, want %d", tc.who, tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
	resp, body := h.do("GET", "/api/v1/admin/audit?actor=op.lan", "", cookie(adm))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	var out struct{ Entries []AuditEntry }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range out.Entries {
		actions = append(actions, e.Action+" "+http.StatusText(e.Status))
	}
	if len(out.Entries) != 2 || out.Entries[0].Action != "POST /test/write" || out.Entries[0].Status != 200 || out.Entries[1].Action != "login" ||
		!strings.HasSuffix(out.Entries[0].At.Format(time.RFC3339), "+07:00") {
		t.Errorf("operator's audit trail: %q %+v", actions, out.Entries)
	}
}

func TestScopedCallersAreNarrowed(t *testing.T) {
	h := newHarness(t, nil)
	h.addUser(User{Name: "unit.ba-tri", Role: RoleUnit, Unit: "ba-tri"}, "mật-khẩu-đơn-vị")
	h.addUser(User{Name: "op.one", Role: RoleOperator, Areas: []string{"83-829"}}, "mật-khẩu-trực-ban")
	h.addUser(User{Name: "op.two", Role: RoleOperator, Areas: []string{"83-829", "83-831"}}, "mật-khẩu-trực-ban")
	unit, _ := h.login("unit.ba-tri", "mật-khẩu-đơn-vị", nil)
	one, _ := h.login("op.one", "mật-khẩu-trực-ban", nil)
	two, _ := h.login("op.two", "mật-khẩu-trực-ban", nil)
	for _, tc := range []struct {
		name, sess, path string
		want             int
		seen             string
	}{
		{"unit forced to its unit", unit, "/test/list", 200, "unit=ba-tri"},
		{"unit asking for another unit", unit, "/test/list?unit=mo-cay", 403, ""},
		{"operator with one area", one, "/test/list?status=new", 200, "area=83-829&status=new"},
		{"operator outside their area", one, "/test/list?area=83-831", 403, ""},
		{"operator with two areas gets both", two, "/test/list", 200, "area=83-829&area=83-831"},
		{"operator with two areas, one chosen", two, "/test/list?area=83-831", 200, "area=83-831"},
		{"operator with two areas, both chosen", two, "/test/list?area=83-831&area=&area=83-829", 200, "area=83-831&area=83-829"},
		{"operator with two areas, one outside", two, "/test/list?area=83-831&area=83-836", 403, ""},
		{"one-area route: operator with one area", one, "/test/one", 200, "area=83-829"},
		{"one-area route: two areas must choose", two, "/test/one", 400, ""},
		{"one-area route: two areas, one chosen", two, "/test/one?area=83-829", 200, "area=83-829"},
		{"one-area route: outside", two, "/test/one?area=83-836", 403, ""},
		{"one-area route: second value outside", two, "/test/one?area=83-829&area=83-836", 403, ""},
	} {
		resp, body := h.do("GET", tc.path, "", cookie(tc.sess))
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
			continue
		}
		if tc.want == 200 {
			if got := <-h.seen; got != tc.seen {
				t.Errorf("%s: handler saw %q, want %q", tc.name, got, tc.seen)
			}
		}
	}
}

func TestRateLimitsAndBodyLimit(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *GuardOptions) { c.RateLimitIP, c.RateLimitToken = "5:1,8:60", "2:1" })
	codes := []int{}
	for range 9 {
		resp, _ := h.do("GET", "/healthz", "", nil)
		codes = append(codes, resp.StatusCode)
		h.clock.Add(300 * time.Millisecond)
	}
	// 5 at once would pass; spaced by 300ms the per-second tier refills, the per-minute one (8) does not.
	if codes[7] != 200 || codes[8] != http.StatusTooManyRequests {
		t.Errorf("statuses %v: want 8 passes then 429", codes)
	}
	h.clock.Add(time.Minute)
	_, secret, err := h.svc.CreateToken(context.Background(), "admin", "giới hạn")
	if err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	var got []int
	for range 3 {
		resp, _ := h.do("POST", "/test/write", "{}", bearer)
		got = append(got, resp.StatusCode)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != http.StatusTooManyRequests {
		t.Errorf("token statuses %v, want 200 200 429", got)
	}
	h.clock.Add(time.Minute)
	if resp, _ := h.do("POST", "/test/write", strings.Repeat("x", 2000), bearer); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d, want 413", resp.StatusCode)
	}
}

func TestParseLimits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Tier
		bad  bool
	}{
		{in: "100:1,2000:60", want: []Tier{{100, time.Second}, {2000, time.Minute}}},
		{in: " 5:10 ", want: []Tier{{5, 10 * time.Second}}},
		{in: ""},
		{in: "100", bad: true},
		{in: "0:1", bad: true},
		{in: "10:0", bad: true},
		{in: "10:1,", bad: true},
	} {
		got, err := ParseLimits(tc.in)
		if (err != nil) != tc.bad || len(got) != len(tc.want) {
			t.Errorf("ParseLimits(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseLimits(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("một mật khẩu dài")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id in PHC form", h)
	}
	h2, _ := HashPassword("một mật khẩu dài")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"một mật khẩu dài", true}, {"một mật khẩu dàI", false}, {"", false}} {
		if ok, err := VerifyPassword(h, tc.pw); err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v", tc.pw, ok, err)
		}
	}
	if _, err := VerifyPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("a foreign hash format was accepted")
	}
	if err := CheckPassword("ngắn"); err == nil {
		t.Error("short password accepted")
	}
}

func TestAccountAPITimesCarryTheVietnamOffset(t *testing.T) {
	h := newHarness(t, nil)
	sess, _ := h.login("admin", adminPassword, nil)
	hdr := cookie(sess)
	hdr["Origin"] = h.srv.URL
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/api/v1/admin/users", `{"name":"lead.hoa","role":"leader","password":"mật-khẩu-lãnh-đạo"}`},
		{"GET", "/api/v1/admin/users", ""},
		{"POST", "/api/v1/admin/tokens", `{"user":"lead.hoa","name":"báo cáo"}`},
		{"GET", "/api/v1/admin/tokens", ""},
	} {
		resp, body := h.do(tc.method, tc.path, tc.body, hdr)
		if resp.StatusCode >= 300 || !strings.Contains(body, `+07:00"`) || strings.Contains(body, `Z"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

func TestDisablingAUserRevokesItsTokens(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	sess, _ := h.login("admin", adminPassword, nil)
	admin := cookie(sess)
	admin["Origin"] = h.srv.URL
	h.addUser(User{Name: "op.lan", DisplayName: "Trần Thị Lan", Role: RoleOperator}, "mật-khẩu-điều-hành")
	opSess, _ := h.login("op.lan", "mật-khẩu-điều-hành", nil)
	_, secret, err := h.svc.CreateToken(ctx, "op.lan", "máy trạm")
	if err != nil {
		t.Fatal(err)
	}
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	writes := func(hdr map[string]string) int {
		resp, _ := h.do("POST", "/test/write", "{}", hdr)
		return resp.StatusCode
	}
	if writes(bearer) != http.StatusOK || writes(cookie(opSess)) != http.StatusOK {
		t.Fatal("the operator's token and session do not work before the test starts")
	}
	put := func(disabled bool) {
		t.Helper()
		body := fmt.Sprintf(`{"display_name":"Trần Thị Lan","role":"operator","disabled":%v}`, disabled)
		if resp, b := h.do("PUT", "/api/v1/admin/users/op.lan", body, admin); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT disabled=%v: %d %s", disabled, resp.StatusCode, b)
		}
	}
	put(true)
	put(false)
	if got := writes(bearer); got != http.StatusUnauthorized {
		t.Errorf("token after the account was disabled and enabled again: %d, want 401", got)
	}
	if got := writes(cookie(opSess)); got != http.StatusUnauthorized {
		t.Errorf("session after the account was disabled and enabled again: %d, want 401", got)
	}
	ts, err := h.svc.Store().Tokens(ctx, "op.lan")
	if err != nil || len(ts) != 1 || ts[0].Revoked == nil {
		t.Errorf("tokens after disabling: %+v, %v (want one, revoked)", ts, err)
	}

	// An account disabled by an older ioc (tokens left live) does not bring them back when enabled.
	_, secret, err = h.svc.CreateToken(ctx, "op.lan", "máy trạm mới")
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.svc.Store().User(ctx, "op.lan")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := h.svc.Store().UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	put(false)
	if got := writes(map[string]string{"Authorization": "Bearer " + secret}); got != http.StatusUnauthorized {
		t.Errorf("token of an account disabled without revocation, after enabling: %d, want 401", got)
	}
	// A token issued after enabling works.
	if _, secret, err = h.svc.CreateToken(ctx, "op.lan", "máy trạm 3"); err != nil {
		t.Fatal(err)
	}
	if got := writes(map[string]string{"Authorization": "Bearer " + secret}); got != http.StatusOK {
		t.Errorf("a new token after enabling: %d, want 200", got)
	}
}
