package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/ioc-vn/ioc/internal/waittest"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/internal/auth/oidctest"
)

const ssoSecret = "ioc-client-secret-7Qm2vX9pLr4Tz8Ke" // the client secret; must never reach a log or a page

// sso is ioc's access layer and account API (the harness) reachable at the redirect URL registered
// at a real OpenID provider (oidctest: node-oidc-provider).
type sso struct {
	*harness
	base string
	op   *oidctest.Provider
}

// ssoAccounts are the provider's users: op.lan is in the operators' group of Ba Tri, lead.new is a
// leader without a local account, nobody.x is in no group ioc knows.
var ssoAccounts = []oidctest.Account{
	{Subject: "a1b2-op", Claims: map[string]any{"preferred_username": "op.lan", "name": "Nguyễn Văn Lân", "groups": []string{"staff", "ioc-ops-ba-tri"}}},
	{Subject: "c3d4-lead", Claims: map[string]any{"preferred_username": "Lead.New", "name": "Trần Thị Mới", "groups": []string{"ioc-leaders"}}},
	{Subject: "e5f6-nobody", Claims: map[string]any{"preferred_username": "nobody.x", "groups": []string{"staff"}}},
	// Keycloak-shaped: group paths with a leading "/", realm roles and client roles nested, a client
	// id with a dot in it.
	{Subject: "kc-7a1e", Claims: map[string]any{"preferred_username": "kc.admin", "groups": []string{"/staff", "/ioc-admins"},
		"realm_access": map[string]any{"roles": []string{"offline_access", "default-roles-bentre"}},
		"resource_access": map[string]any{"ioc": map[string]any{"roles": []string{"ioc-leader"}},
			"account": map[string]any{"roles": []string{"manage-account"}}}}},
	{Subject: "kc-9b2f", Claims: map[string]any{"preferred_username": "kc.op", "groups": []string{"/staff"},
		"realm_access":    map[string]any{"roles": []string{"ioc-operator"}},
		"resource_access": map[string]any{"ioc.bentre": map[string]any{"roles": []string{"ops-ba-tri"}, "unit": "Phòng Cảnh sát PCCC"}}}},
}

// keycloak is the provider issuing Keycloak-shaped ID tokens (every claim in the ID token too) and
// ioc asking for the roles scope.
func keycloak(c *OIDCConfig) { c.Scopes = append(c.Scopes, "roles") }

// newSSO starts the provider and ioc; with keycloakShaped, the provider puts every claim in the ID
// token as Keycloak does.
func newSSO(t *testing.T, keycloakShaped bool, edit func(*OIDCConfig)) *sso {
	t.Helper()
	return newSSOClient(t, keycloakShaped, nil, edit)
}

// newSSOClient is newSSO with the client's registration at the provider changed by client.
func newSSOClient(t *testing.T, keycloakShaped bool, client func(*oidctest.Client), edit func(*OIDCConfig)) *sso {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cl := oidctest.Client{ID: "ioc", Secret: ssoSecret, RedirectURIs: []string{base + oidcCallbackPath},
		PostLogoutRedirectURIs: []string{base + "/"}, BackchannelLogoutURI: base + oidcBackchannelPath, SessionRequired: true,
		GrantTypes: []string{"authorization_code", "refresh_token"}}
	if client != nil {
		client(&cl)
	}
	op := oidctest.StartWith(t, oidctest.Options{Clients: []oidctest.Client{cl}, Accounts: ssoAccounts, KeycloakShaped: keycloakShaped})
	h := newHarness(t, func(c *Config, _ *GuardOptions) {
		c.OIDC.Issuer, c.OIDC.ClientID, c.OIDC.ClientSecret, c.OIDC.RedirectURL = op.Issuer, "ioc", ssoSecret, base+oidcCallbackPath
		c.OIDC.Roles = []OIDCRole{
			{Value: "ioc-admins", Role: RoleAdmin},
			{Value: "ioc-ops-ba-tri", Role: RoleOperator, Areas: []string{"831"}},
			{Value: "ioc-leaders", Role: RoleLeader},
		}
		if edit != nil {
			edit(&c.OIDC)
		}
	})
	h.clock.Add(time.Since(h.clock.Now())) // the provider's tokens carry real times
	srv := httptest.NewUnstartedServer(h.srv.Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &sso{harness: h, base: base, op: op}
}

func browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// signIn runs a sign-in in the browser c: GET /auth/oidc/login, following the provider's redirects
// up to ioc's callback. atCallback may change the callback URL (its state) or the browser's cookies
// before the callback is called with the Accept header given. It returns the callback's answer.
func (s *sso) signIn(c *http.Client, accept string, atCallback func(cb *url.URL)) (*http.Response, string) {
	s.t.Helper()
	var cb *url.URL
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == oidcCallbackPath {
			cb = req.URL
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return errors.New("too many redirects")
		}
		return nil
	}
	resp, err := c.Get(s.base + oidcLoginPath)
	if err != nil {
		s.t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if cb == nil {
		s.t.Fatalf("sign-in did not come back to the callback: %s %s\n%.2000s", resp.Status, resp.Request.URL, first)
	}
	if atCallback != nil {
		atCallback(cb)
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest("GET", cb.String(), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	if resp, err = c.Do(req); err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// me is the browser's principal, nil when it is not signed in.
func (s *sso) me(c *http.Client) *Principal {
	s.t.Helper()
	resp, err := c.Get(s.base + "/api/v1/auth/me")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var p Principal
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		s.t.Fatal(err)
	}
	return &p
}

// editFlowCookie changes the browser's sign-in flow cookie (state, nonce, PKCE verifier).
func (s *sso) editFlowCookie(c *http.Client, edit func(*flowState)) {
	s.t.Helper()
	u, _ := url.Parse(s.base + oidcCallbackPath)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name != flowCookie {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
		var fs flowState
		if err != nil || json.Unmarshal(raw, &fs) != nil {
			s.t.Fatalf("flow cookie %q", ck.Value)
		}
		edit(&fs)
		raw, _ = json.Marshal(fs)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: flowCookie, Value: base64.RawURLEncoding.EncodeToString(raw), Path: "/auth/oidc/"}})
		return
	}
	s.t.Fatal("no flow cookie in the browser")
}

func errorCode(body string) string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// TestSingleSignOn signs in through a real OpenID provider: a good sign-in opens the same session a
// password does, with the role the provider's groups map to; every broken or refused sign-in is
// refused with a bilingual reason and recorded, and opens no session.
func TestSingleSignOn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		keycloak   bool // Keycloak-shaped ID tokens: the claims must be read from the ID token, userinfo is not asked
		edit       func(*OIDCConfig)
		local      []User // local accounts besides admin
		next       oidctest.Next
		atCallback func(s *sso, c *http.Client, cb *url.URL)
		status     int
		code       string // the refusal's error code
		detail     string // in the refusal's audit entry
		want       *Principal
	}{
		{name: "operator of Ba Tri, role and areas from the provider's groups",
			local: []User{{Name: "op.lan", Role: RoleLeader}}, next: oidctest.Next{Account: "a1b2-op"},
			status: http.StatusSeeOther, want: &Principal{User: "op.lan", Role: RoleOperator, Areas: []string{"831"}, Via: "session"}},
		{name: "unknown account provisioned with its mapped role",
			edit: func(c *OIDCConfig) { c.UnknownUsers = UnknownProvision }, next: oidctest.Next{Account: "c3d4-lead"},
			status: http.StatusSeeOther, want: &Principal{User: "lead.new", Role: RoleLeader, Via: "session"}},
		{name: "role from local account when role_claim is empty",
			edit:  func(c *OIDCConfig) { c.RoleClaim, c.Roles = "", nil },
			local: []User{{Name: "nobody.x", Role: RoleUnit, Unit: "Phòng Kinh tế"}}, next: oidctest.Next{Account: "e5f6-nobody"},
			status: http.StatusSeeOther, want: &Principal{User: "nobody.x", Role: RoleUnit, Unit: "Phòng Kinh tế", Via: "session"}},
		{name: "keycloak group path /ioc-admins", keycloak: true, edit: keycloak,
			local: []User{{Name: "kc.admin", Role: RoleLeader}}, next: oidctest.Next{Account: "kc-7a1e"},
			status: http.StatusSeeOther, want: &Principal{User: "kc.admin", Role: RoleAdmin, Via: "session"}},
		{name: "keycloak mapping written as a path matches a plain group", edit: func(c *OIDCConfig) {
			c.UnknownUsers, c.Roles = UnknownProvision, []OIDCRole{{Value: "/ioc-leaders", Role: RoleLeader}}
		}, next: oidctest.Next{Account: "c3d4-lead"},
			status: http.StatusSeeOther, want: &Principal{User: "lead.new", Role: RoleLeader, Via: "session"}},
		{name: "keycloak realm_access.roles", keycloak: true, edit: func(c *OIDCConfig) {
			keycloak(c)
			c.RoleClaim, c.UnknownUsers = "realm_access.roles", UnknownProvision
			c.Roles = []OIDCRole{{Value: "ioc-admins", Role: RoleAdmin}, {Value: "ioc-operator", Role: RoleOperator, Areas: []string{"831"}}}
		}, next: oidctest.Next{Account: "kc-9b2f"},
			status: http.StatusSeeOther, want: &Principal{User: "kc.op", Role: RoleOperator, Areas: []string{"831"}, Via: "session"}},
		{name: "keycloak resource_access.ioc.roles", keycloak: true, edit: func(c *OIDCConfig) {
			keycloak(c)
			c.RoleClaim, c.Roles = "resource_access.ioc.roles", []OIDCRole{{Value: "ioc-leader", Role: RoleLeader}}
		}, local: []User{{Name: "kc.admin", Role: RoleOperator, Areas: []string{"831"}}}, next: oidctest.Next{Account: "kc-7a1e"},
			status: http.StatusSeeOther, want: &Principal{User: "kc.admin", Role: RoleLeader, Via: "session"}},
		{name: "keycloak client id with a dot, unit from a nested claim", keycloak: true, edit: func(c *OIDCConfig) {
			keycloak(c)
			c.RoleClaim, c.UnitClaim, c.UnknownUsers = "resource_access.ioc.bentre.roles", "resource_access.ioc.bentre.unit", UnknownProvision
			c.Roles = []OIDCRole{{Value: "ops-ba-tri", Role: RoleUnit}}
		}, next: oidctest.Next{Account: "kc-9b2f"},
			status: http.StatusSeeOther, want: &Principal{User: "kc.op", Role: RoleUnit, Unit: "Phòng Cảnh sát PCCC", Via: "session"}},
		{name: "keycloak role of another client is not ours", keycloak: true, edit: func(c *OIDCConfig) {
			keycloak(c)
			c.RoleClaim, c.Roles = "resource_access.ioc.roles", []OIDCRole{{Value: "manage-account", Role: RoleAdmin}}
		}, local: []User{{Name: "kc.admin", Role: RoleLeader}}, next: oidctest.Next{Account: "kc-7a1e"},
			status: http.StatusForbidden, code: "oidc_no_role", detail: "no value of claim resource_access.ioc.roles is mapped"},

		{name: "unknown account refused by default", next: oidctest.Next{Account: "c3d4-lead"},
			status: http.StatusForbidden, code: "oidc_unknown_user", detail: "no local account for subject \"c3d4-lead\""},
		{name: "disabled local account refused",
			local: []User{{Name: "op.lan", Role: RoleOperator, Disabled: true}}, next: oidctest.Next{Account: "a1b2-op"},
			status: http.StatusForbidden, code: "oidc_disabled", detail: "account is disabled"},
		{name: "no group mapped to a role",
			local: []User{{Name: "nobody.x", Role: RoleLeader}}, next: oidctest.Next{Account: "e5f6-nobody"},
			status: http.StatusForbidden, code: "oidc_no_role", detail: "no value of claim groups is mapped"},
		{name: "provider error access_denied", next: oidctest.Next{Error: "access_denied", ErrorDescription: "người dùng từ chối"},
			status: http.StatusUnauthorized, code: "oidc_provider_error", detail: "error=access_denied"},
		{name: "state mismatch", local: []User{{Name: "op.lan", Role: RoleOperator}}, next: oidctest.Next{Account: "a1b2-op"},
			atCallback: func(s *sso, c *http.Client, cb *url.URL) {
				q := cb.Query()
				q.Set("state", "kẻ-gian-đổi-state")
				cb.RawQuery = q.Encode()
			},
			status: http.StatusBadRequest, code: "oidc_state", detail: "state missing, expired or mismatched"},
		{name: "PKCE verifier mismatch refused by the provider", local: []User{{Name: "op.lan", Role: RoleOperator}}, next: oidctest.Next{Account: "a1b2-op"},
			atCallback: func(s *sso, c *http.Client, cb *url.URL) {
				s.editFlowCookie(c, func(fs *flowState) { fs.Verifier = strings.Repeat("x", 43) })
			},
			status: http.StatusUnauthorized, code: "oidc_token", detail: "token endpoint answered 400 invalid_grant"},
		{name: "nonce mismatch", local: []User{{Name: "op.lan", Role: RoleOperator}},
			next:   oidctest.Next{Account: "a1b2-op", IDTokenClaims: map[string]any{"nonce": "nonce-of-another-sign-in"}},
			status: http.StatusUnauthorized, code: "oidc_token", detail: "nonce does not match"},
		{name: "ID token for another client", local: []User{{Name: "op.lan", Role: RoleOperator}},
			next:   oidctest.Next{Account: "a1b2-op", IDTokenClaims: map[string]any{"aud": "another-app"}},
			status: http.StatusUnauthorized, code: "oidc_token", detail: "expected audience \"ioc\" got [\"another-app\"]"},
		{name: "expired ID token", local: []User{{Name: "op.lan", Role: RoleOperator}},
			next:   oidctest.Next{Account: "a1b2-op", IDTokenClaims: map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}},
			status: http.StatusUnauthorized, code: "oidc_token", detail: "token is expired"},
		{name: "ID token from another issuer", local: []User{{Name: "op.lan", Role: RoleOperator}},
			next:   oidctest.Next{Account: "a1b2-op", IDTokenClaims: map[string]any{"iss": "https://sso.evil.example"}},
			status: http.StatusUnauthorized, code: "oidc_token", detail: "issued by a different provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSO(t, tc.keycloak, tc.edit)
			for _, u := range tc.local {
				s.addUser(u, "mật-khẩu-cục-bộ-"+u.Name)
			}
			c := browser(t)
			// A session the browser already has (signed in with a password) ends at any SSO sign-in.
			var old string
			if len(tc.local) > 0 && !tc.local[0].Disabled {
				if old, _ = s.login(tc.local[0].Name, "mật-khẩu-cục-bộ-"+tc.local[0].Name, nil); old == "" {
					t.Fatal("password sign-in failed")
				}
				u, _ := url.Parse(s.base)
				c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: old, Path: "/"}})
			}
			s.op.Next(t, tc.next)
			resp, body := s.signIn(c, "application/json", func(cb *url.URL) {
				if tc.atCallback != nil {
					tc.atCallback(s, c, cb)
				}
			})
			if resp.StatusCode != tc.status || errorCode(body) != tc.code {
				t.Fatalf("callback: %s %s, want %d %s", resp.Status, body, tc.status, tc.code)
			}
			got := s.me(c)
			if tc.want == nil {
				if got != nil && got.User != tc.local[0].Name {
					t.Errorf("refused sign-in left a session of %+v", got)
				}
				if !strings.Contains(body, " / ") {
					t.Errorf("refusal is not bilingual (Vietnamese / English): %s", body)
				}
				s.checkAudit("login_failed", "", tc.detail)
				return
			}
			if got == nil || got.User != tc.want.User || got.Role != tc.want.Role || !slices.Equal(got.Areas, tc.want.Areas) ||
				got.Unit != tc.want.Unit || got.Via != "session" {
				t.Fatalf("signed in as %+v, want %+v", got, tc.want)
			}
			if loc := resp.Header.Get("Location"); loc != "/" {
				t.Errorf("after sign-in the browser goes to %q, want /", loc)
			}
			s.checkSessionCookie(resp)
			if fromUserinfo := strings.Contains(s.logs.String(), "claims completed from userinfo"); tc.keycloak && fromUserinfo {
				t.Error("the claims were in the Keycloak-shaped ID token, yet ioc asked userinfo")
			}
			if old != "" {
				if r, _ := s.do("GET", "/api/v1/auth/me", "", cookie(old)); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("the session the browser had before still works: %d", r.StatusCode)
				}
			}
			s.checkAudit("login", tc.want.User, "subject")
			// The local account carries the mapped role, so the session keeps it on every request.
			u, err := s.svc.st.User(context.Background(), tc.want.User)
			if err != nil || u.Role != tc.want.Role {
				t.Errorf("local account %+v (%v), want role %s", u, err, tc.want.Role)
			}
		})
	}
}

// checkSessionCookie checks the session cookie of a sign-in: the same flags as a password sign-in.
func (s *sso) checkSessionCookie(resp *http.Response) {
	s.t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Value == "" {
				s.t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", c)
			}
			return
		}
	}
	s.t.Error("no session cookie set")
}

// checkAudit finds the newest audit entry of action and checks it is an SSO one with its actor and detail.
func (s *sso) checkAudit(action, actor, detail string) {
	s.t.Helper()
	es, err := s.svc.st.Audit(context.Background(), AuditQuery{Action: action, Limit: 1})
	if err != nil || len(es) == 0 {
		s.t.Fatalf("no %s audit entry (%v)", action, err)
	}
	e := es[0]
	s.t.Logf("audit: %s %s %d %s", e.Action, e.Actor, e.Status, e.Detail)
	if actor != "" && e.Actor != actor || !strings.HasPrefix(e.Detail, "via oidc") || !strings.Contains(e.Detail, detail) {
		s.t.Errorf("audit entry %+v, want actor %q and detail %q", e, actor, detail)
	}
	if strings.Contains(e.Detail, ssoSecret) {
		s.t.Errorf("audit entry carries the client secret: %+v", e)
	}
}

// TestSingleSignOnErrorPageAndSecrets: a browser gets a bilingual page (Vietnamese first), and
// neither the page, the log nor the audit log carries the client secret, the code or a token.
func TestSingleSignOnErrorPageAndSecrets(t *testing.T) {
	s := newSSO(t, false, nil)
	s.addUser(User{Name: "op.lan", Role: RoleOperator}, "mật-khẩu-cục-bộ-op.lan")
	c := browser(t)
	s.op.Next(t, oidctest.Next{Account: "a1b2-op", IDTokenClaims: map[string]any{"aud": "another-app"}})
	var code string
	resp, body := s.signIn(c, "text/html,application/xhtml+xml", func(cb *url.URL) { code = cb.Query().Get("code") })
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("browser error page: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	vi, en := strings.Index(body, "Không đăng nhập được"), strings.Index(body, "Sign-in failed")
	if vi < 0 || en < vi || !strings.Contains(body, "mã định danh của nhà cung cấp không hợp lệ / the provider&#39;s ID token is not valid") {
		t.Errorf("page is not Vietnamese first, English second:\n%s", body)
	}
	// A good sign-in afterwards, so the log also holds a success.
	s.op.Next(t, oidctest.Next{Account: "a1b2-op"})
	if resp, body := s.signIn(browser(t), "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	if !strings.Contains(s.logs.String(), "claims completed from userinfo") {
		t.Error("the provider gives profile and group claims at userinfo only, yet ioc did not ask there")
	}
	es, err := s.svc.st.Audit(context.Background(), AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(es)
	for what, secret := range map[string]string{"client secret": ssoSecret, "code": code} {
		if code == "" {
			t.Fatal("no code seen")
		}
		for where, text := range map[string]string{"page": body, "log": s.logs.String(), "audit log": string(raw)} {
			if strings.Contains(text, secret) {
				t.Errorf("%s carries the %s", where, what)
			}
		}
	}
	if strings.Contains(s.logs.String(), "eyJ") { // the start of any JWT
		t.Error("log carries a token")
	}
}

// TestSingleSignOnOff: without auth.oidc the routes answer 404.
func TestSingleSignOnOff(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range []string{oidcLoginPath, oidcCallbackPath + "?code=x&state=y"} {
		if resp, body := h.do("GET", p, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without SSO: %s %s", p, resp.Status, body)
		}
	}
}

// TestOIDCConfigValidate reports each problem with its key path.
func TestOIDCConfigValidate(t *testing.T) {
	good := func() OIDCConfig {
		c := oidcDefaults()
		c.Issuer, c.ClientID, c.RedirectURL = "https://sso.bentre.gov.vn/realms/ioc", "ioc", "https://ioc.bentre.gov.vn/auth/oidc/callback"
		c.Roles = []OIDCRole{{Value: "ioc-admins", Role: RoleAdmin}}
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*OIDCConfig)
		want []string
	}{
		{name: "off", edit: func(c *OIDCConfig) { *c = oidcDefaults() }},
		{name: "good", edit: func(c *OIDCConfig) {}},
		{name: "public client on loopback issuer", edit: func(c *OIDCConfig) { c.Issuer, c.ClientSecret = "http://127.0.0.1:5556/dex", "" }},
		{name: "settings without issuer", edit: func(c *OIDCConfig) { c.Issuer = "" }, want: []string{"oidc.issuer: must be set"}},
		{name: "everything wrong", edit: func(c *OIDCConfig) {
			c.Issuer, c.ClientID, c.RedirectURL = "http://sso.example.vn", "", "https://ioc.example.vn/callback"
			c.Scopes, c.UserClaim, c.UnknownUsers = []string{"profile"}, "", "allow"
			c.Roles = []OIDCRole{{Role: "chief", Areas: []string{"83 1"}}, {Value: "u", Role: RoleUnit}, {Value: "l", Role: RoleLeader, Unit: "x", Areas: []string{"831"}}}
		}, want: []string{
			`oidc.issuer: must be an https URL`, "oidc.client_id: must be set", "oidc.redirect_url: must be ioc's own address ending in /auth/oidc/callback",
			"oidc.scopes: must include openid", "oidc.user_claim: must name", `oidc.roles[0].value: must be set`,
			`oidc.roles[0].role: must be one of admin, operator, leader, unit, got "chief"`, `oidc.roles[0].areas: "83 1" is not an area code`,
			"oidc.roles[1].unit: unit staff need their unit", "oidc.roles[2].areas: only operators", "oidc.roles[2].unit: only unit staff",
			`oidc.unknown_users: must be refuse or provision, got "allow"`}},
		{name: "roles without claim", edit: func(c *OIDCConfig) { c.RoleClaim, c.UnknownUsers = "", UnknownProvision },
			want: []string{"oidc.role_claim: must be set for roles to apply", "oidc.unknown_users: provision needs role_claim"}},
		{name: "keycloak paths", edit: func(c *OIDCConfig) { c.RoleClaim, c.UnitClaim = "resource_access.ioc.bentre.roles", "attrs.unit" }},
		{name: "claim paths with empty parts", edit: func(c *OIDCConfig) { c.RoleClaim, c.AreasClaim, c.UnitClaim = "realm_access..roles", ".areas", "unit." },
			want: []string{`oidc.role_claim: a claim path has no empty part (realm_access.roles), got "realm_access..roles"`,
				`oidc.areas_claim: a claim path has no empty part`, `oidc.unit_claim: a claim path has no empty part`}},
		{name: "bad logout and revalidation settings", edit: func(c *OIDCConfig) {
			c.PostLogoutRedirectURL, c.RevalidateEvery, c.UnreachableGrace = "/signed-out", -time.Minute, -time.Second
		}, want: []string{`oidc.post_logout_redirect_url: must be an absolute http(s) URL (or empty for ioc's root), got "/signed-out"`,
			"oidc.revalidate_every: must not be negative (0 turns revalidation off), got -1m0s", "oidc.unreachable_grace: must not be negative, got -1s"}},
		{name: "private_key_jwt", edit: func(c *OIDCConfig) { c.ClientKeyFile, c.ClientKeyID = "/run/secrets/ioc-oidc.pem", "ioc-2026" }},
		{name: "key and secret", edit: func(c *OIDCConfig) { c.ClientSecret, c.ClientKeyFile = "s3cret", "/run/secrets/ioc-oidc.pem" },
			want: []string{"oidc.client_key_file: private_key_jwt and client_secret exclude each other: set one"}},
		{name: "kid without key", edit: func(c *OIDCConfig) { c.ClientKeyID = "ioc-2026" }, want: []string{"oidc.client_key_id: needs client_key_file"}},
		{name: "claim without roles", edit: func(c *OIDCConfig) { c.Roles = nil }, want: []string{"oidc.roles: map at least one value of groups"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not report %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestClaimAt reads claims at paths through nested objects, keys with dots in them included.
func TestClaimAt(t *testing.T) {
	claims := map[string]any{
		"groups":             []any{"/ioc-admins"},
		"realm_access":       map[string]any{"roles": []any{"ioc-operator"}},
		"realm_access.roles": "top-level key with a dot",
		"resource_access": map[string]any{
			"ioc":        map[string]any{"roles": []any{"leader"}},
			"ioc.bentre": map[string]any{"roles": []any{"unit"}},
		},
	}
	for _, tc := range []struct {
		path string
		want any
	}{
		{path: "groups", want: []any{"/ioc-admins"}},
		{path: "realm_access.roles", want: "top-level key with a dot"},
		{path: "resource_access.ioc.roles", want: []any{"leader"}},
		{path: "resource_access.ioc.bentre.roles", want: []any{"unit"}},
		{path: "resource_access.ioc.bentre.nothing"},
		{path: "groups.roles"},
		{path: ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, ok := claimAt(claims, tc.path)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("claimAt(%q) = %v, %v; want %v", tc.path, got, ok, tc.want)
			}
		})
	}
}

// session is the browser's ioc session cookie value, "" when it has none.
func (s *sso) session(c *http.Client) string {
	s.t.Helper()
	u, _ := url.Parse(s.base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == CookieName {
			return ck.Value
		}
	}
	return ""
}

// signOut signs the browser out of ioc as the page does; it returns the answer's logout_url.
func (s *sso) signOut(c *http.Client) string {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.base+"/api/v1/auth/logout", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Origin", s.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		LogoutURL string `json:"logout_url"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			s.t.Fatal(err)
		}
	} else if resp.StatusCode != http.StatusNoContent {
		s.t.Fatalf("sign-out: %s", resp.Status)
	}
	return body.LogoutURL
}

// TestSingleSignOnLogout: signing out of an SSO session sends the browser to the provider's
// end_session_endpoint (id_token_hint, post_logout_redirect_uri), which ends the provider's session
// too, so the next SSO click has to sign in at the provider again instead of silently signing the
// same person back in.
func TestSingleSignOnLogout(t *testing.T) {
	s := newSSO(t, false, nil)
	s.addUser(User{Name: "op.lan", Role: RoleOperator}, "mật-khẩu-cục-bộ-op.lan")
	c := browser(t)
	s.op.Next(t, oidctest.Next{Account: "a1b2-op"})
	if resp, body := s.signIn(c, "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	// While the provider's session lives, an SSO click signs in without asking (the provider's
	// sign-in screen, set to refuse, is not shown).
	s.op.Next(t, oidctest.Next{Error: "login_required"})
	if resp, body := s.signIn(c, "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in while the provider's session lives: %s %s", resp.Status, body)
	}
	logoutURL := s.signOut(c)
	if s.me(c) != nil {
		t.Fatal("still signed in to ioc after sign-out")
	}
	u, err := url.Parse(logoutURL)
	if err != nil || !strings.HasPrefix(logoutURL, s.op.Issuer+"/") || u.Query().Get("id_token_hint") == "" ||
		u.Query().Get("post_logout_redirect_uri") != s.base+"/" || u.Query().Get("client_id") != "ioc" {
		t.Fatalf("sign-out of an SSO session answers logout_url %q, want the provider's end_session_endpoint with id_token_hint and post_logout_redirect_uri", logoutURL)
	}
	if end := s.op.SignOut(t, c, logoutURL); end.String() != s.base+"/" {
		t.Errorf("after the provider's sign-out the browser is at %s, want ioc's root", end)
	}
	resp, body := s.signIn(c, "application/json", nil)
	if resp.StatusCode != http.StatusUnauthorized || errorCode(body) != "oidc_provider_error" {
		t.Fatalf("the next SSO click signed in without the provider asking: %s %s", resp.Status, body)
	}
	// A password session has nothing to end at the provider.
	old, _ := s.login("op.lan", "mật-khẩu-cục-bộ-op.lan", nil)
	pw := browser(t)
	bu, _ := url.Parse(s.base)
	pw.Jar.SetCookies(bu, []*http.Cookie{{Name: CookieName, Value: old, Path: "/"}})
	if got := s.signOut(pw); got != "" {
		t.Errorf("sign-out of a password session answers logout_url %q", got)
	}
	if strings.Contains(s.logs.String(), "eyJ") {
		t.Error("log carries a token")
	}
}

// ssoBrowser signs a new browser in as op.lan through the provider and returns it with its
// session's SSO record.
func (s *sso) ssoBrowser() (*http.Client, SSOSession) {
	s.t.Helper()
	c := browser(s.t)
	s.op.Next(s.t, oidctest.Next{Account: "a1b2-op"})
	if resp, body := s.signIn(c, "", nil); resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	ss, err := s.svc.st.SSOSession(context.Background(), hashOf(s.session(c)))
	if err != nil || ss.SID == "" || ss.Subject != "a1b2-op" || ss.IDToken == "" {
		s.t.Fatalf("SSO record of the session: %+v %v", ss, err)
	}
	return c, ss
}

// liveCheck is the recheck a websocket opened with the browser's session would run.
func (s *sso) liveCheck(c *http.Client) func(context.Context) bool {
	s.t.Helper()
	req := httptest.NewRequest("GET", "/api/v1/live", nil)
	req.AddCookie(&http.Cookie{Name: CookieName, Value: s.session(c)})
	p, err := s.svc.Authenticate(req)
	if err != nil || p == nil {
		s.t.Fatalf("session not valid: %v", err)
	}
	return s.svc.Recheck(req.WithContext(WithPrincipal(req.Context(), p)))
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waittest.For(t, 10*time.Second, what, cond)
}

// TestSingleSignOnBackchannelLogout: when the user signs out at the provider (not through ioc), the
// provider posts a logout token to ioc, which ends that provider session's ioc sessions; the
// websocket recheck then fails, so the live connection closes. Other sessions stay.
func TestSingleSignOnBackchannelLogout(t *testing.T) {
	s := newSSO(t, false, nil)
	s.addUser(User{Name: "op.lan", Role: RoleOperator}, "mật-khẩu-cục-bộ-op.lan")
	c, _ := s.ssoBrowser()
	other, _ := s.ssoBrowser() // another browser, another provider session
	live := s.liveCheck(c)
	if !live(context.Background()) {
		t.Fatal("recheck fails while the session lives")
	}
	s.op.SignOut(t, c, "") // at the provider: no ioc page is involved
	waitFor(t, "the back-channel logout ends the ioc session", func() bool { return s.me(c) == nil })
	if live(context.Background()) {
		t.Error("the websocket recheck still passes after back-channel logout")
	}
	if s.me(other) == nil {
		t.Error("the other provider session's ioc session was ended too")
	}
	es, err := s.svc.st.Audit(context.Background(), AuditQuery{Action: "logout", Limit: 1})
	if err != nil || len(es) != 1 || !strings.Contains(es[0].Detail, "via oidc back-channel") || !strings.Contains(es[0].Detail, "1 sessions ended") {
		t.Errorf("audit of the back-channel logout: %+v %v", es, err)
	}
}

// TestSingleSignOnBackchannelLogoutToken: logout tokens signed with the provider's own key (a
// misbehaving provider, or a token replayed by someone who caught one) are verified as the spec
// asks before any session ends.
func TestSingleSignOnBackchannelLogoutToken(t *testing.T) {
	s := newSSO(t, false, nil)
	s.addUser(User{Name: "op.lan", Role: RoleOperator}, "mật-khẩu-cục-bộ-op.lan")
	seq := 0
	for _, tc := range []struct {
		name   string
		edit   func(claims map[string]any)
		token  string // instead of a signed token
		replay bool   // post the token a second time; that answer is checked
		ends   bool
	}{
		{name: "good", ends: true},
		{name: "sub only ends every session of the subject", edit: func(c map[string]any) { delete(c, "sid") }, ends: true},
		{name: "replayed", replay: true},
		{name: "with a nonce (an ID token)", edit: func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }},
		{name: "no events", edit: func(c map[string]any) { delete(c, "events") }},
		{name: "another event", edit: func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}},
		{name: "for another client", edit: func(c map[string]any) { c["aud"] = "another-app" }},
		{name: "from another issuer", edit: func(c map[string]any) { c["iss"] = "https://sso.evil.example" }},
		{name: "neither sid nor sub", edit: func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }},
		{name: "no jti", edit: func(c map[string]any) { delete(c, "jti") }},
		{name: "expired", edit: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }},
		{name: "issued an hour ago", edit: func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() }},
		{name: "not signed by the provider", token: "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ss := s.ssoBrowser()
			seq++
			claims := map[string]any{"iss": s.op.Issuer, "aud": "ioc", "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
				"jti": fmt.Sprintf("jti-%s-%d", t.Name(), seq), "sub": ss.Subject, "sid": ss.SID,
				"events": map[string]any{backchannelEvent: map[string]any{}}}
			if tc.edit != nil {
				tc.edit(claims)
			}
			token := tc.token
			if token == "" {
				token = s.op.Sign(t, claims)
			}
			post := func() (*http.Response, string) {
				return s.do("POST", oidcBackchannelPath, url.Values{"logout_token": {token}}.Encode(),
					map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
			}
			resp, body := post()
			if tc.replay {
				if resp.StatusCode != http.StatusOK || s.me(c) != nil {
					t.Fatalf("first post: %s %s", resp.Status, body)
				}
				c, _ = s.ssoBrowser()
				resp, body = post()
			}
			want := http.StatusBadRequest
			if tc.ends {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Fatalf("back-channel logout: %s %s, want %d", resp.Status, body, want)
			}
			if ended := s.me(c) == nil; ended != tc.ends {
				t.Errorf("session ended: %v, want %v", ended, tc.ends)
			}
			if !tc.ends {
				s.checkAudit("logout_failed", "", "back-channel")
			}
		})
	}
	if r, body := s.do("POST", oidcBackchannelPath, "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("back-channel post without a logout_token: %s %s, want 400", r.Status, body)
	}
}

// TestSingleSignOnRevalidation: an SSO session is confirmed with the provider (refresh token
// grant) once revalidate_every has passed, so a user disabled at the provider, or whose groups or
// roles changed there, loses the session or gets the new role within that interval, and the live
// websocket's recheck fails; while the provider does not answer, the session is kept for
// unreachable_grace, then ended. The clock is the harness's: moved, not waited on.
func TestSingleSignOnRevalidation(t *testing.T) {
	type step struct {
		after time.Duration // the clock moves this much, then the browser asks who it is
		want  Role          // "": signed out
	}
	opLan := func(claims map[string]any) oidctest.Account {
		return oidctest.Account{Subject: "a1b2-op", Claims: claims}
	}
	for _, tc := range []struct {
		name     string
		keycloak bool
		edit     func(*OIDCConfig)
		change   func(s *sso)
		steps    []step
		detail   string // of the audit entry of the session's end
	}{
		{name: "groups changed at the provider: the new role within the interval",
			change: func(s *sso) {
				s.op.SetAccount(s.t, opLan(map[string]any{"preferred_username": "op.lan", "groups": []string{"ioc-leaders"}}), false)
			},
			steps: []step{{4 * time.Minute, RoleOperator}, {2 * time.Minute, RoleLeader}}},
		{name: "keycloak realm roles changed: read from the refreshed ID token", keycloak: true,
			edit: func(c *OIDCConfig) {
				keycloak(c)
				c.RoleClaim = "realm_access.roles"
				c.Roles = []OIDCRole{{Value: "ioc-operator", Role: RoleOperator, Areas: []string{"831"}}, {Value: "ioc-admin", Role: RoleAdmin}}
			},
			change: func(s *sso) {
				s.op.SetAccount(s.t, opLan(map[string]any{"preferred_username": "op.lan",
					"realm_access": map[string]any{"roles": []string{"ioc-admin"}}}), false)
			},
			steps: []step{{6 * time.Minute, RoleAdmin}}},
		{name: "disabled at the provider: signed out", change: func(s *sso) { s.op.SetAccount(s.t, opLan(nil), true) },
			steps: []step{{4 * time.Minute, RoleOperator}, {2 * time.Minute, ""}}, detail: "the provider refused the refresh token: 400 invalid_grant"},
		{name: "no mapped group any more: signed out",
			change: func(s *sso) {
				s.op.SetAccount(s.t, opLan(map[string]any{"preferred_username": "op.lan", "groups": []string{"staff"}}), false)
			},
			steps: []step{{6 * time.Minute, ""}}, detail: "no value of claim groups is mapped to a role any more"},
		{name: "provider unreachable: kept for the grace, then signed out",
			change: func(s *sso) { s.op.Down(s.t, true) },
			steps:  []step{{6 * time.Minute, RoleOperator}, {20 * time.Minute, RoleOperator}, {5 * time.Minute, ""}},
			detail: "did not answer for longer than unreachable_grace (30m0s)"},
		{name: "provider unreachable, no grace: signed out at once",
			edit:   func(c *OIDCConfig) { c.UnreachableGrace = 0 },
			change: func(s *sso) { s.op.Down(s.t, true) },
			steps:  []step{{6 * time.Minute, ""}}, detail: "did not answer for longer than unreachable_grace (0s)"},
		{name: "revalidation off: the provider is not asked",
			edit:   func(c *OIDCConfig) { c.RevalidateEvery = 0 },
			change: func(s *sso) { s.op.SetAccount(s.t, opLan(nil), true) },
			steps:  []step{{6 * time.Hour, RoleOperator}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSO(t, tc.keycloak, func(c *OIDCConfig) {
				c.Roles = append(c.Roles, OIDCRole{Value: "ioc-operator", Role: RoleOperator, Areas: []string{"831"}})
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			s.addUser(User{Name: "op.lan", Role: RoleOperator, Areas: []string{"831"}}, "mật-khẩu-cục-bộ-op.lan")
			if tc.keycloak {
				s.op.SetAccount(t, opLan(map[string]any{"preferred_username": "op.lan", "realm_access": map[string]any{"roles": []string{"ioc-operator"}}}), false)
			}
			c, _ := s.ssoBrowser()
			if p := s.me(c); p == nil || p.Role != RoleOperator {
				t.Fatalf("signed in as %+v", p)
			}
			live := s.liveCheck(c)
			tc.change(s)
			for i, st := range tc.steps {
				s.clock.Add(st.after)
				p := s.me(c)
				switch {
				case st.want == "" && p != nil:
					t.Fatalf("step %d: still signed in as %+v", i, p)
				case st.want != "" && (p == nil || p.Role != st.want):
					t.Fatalf("step %d: signed in as %+v, want role %s", i, p, st.want)
				}
			}
			last := tc.steps[len(tc.steps)-1].want
			if last != RoleOperator && live(context.Background()) {
				t.Error("the websocket recheck still passes")
			}
			if tc.detail != "" {
				s.checkAudit("logout", "op.lan", tc.detail)
			}
			if tc.keycloak && strings.Contains(s.logs.String(), "claims completed from userinfo") {
				t.Error("the refreshed Keycloak-shaped ID token carries the roles, yet ioc asked userinfo")
			}
			if strings.Contains(s.logs.String(), "eyJ") {
				t.Error("log carries a token")
			}
		})
	}
}

// writeKey writes key as a PEM file (PKCS #8) and returns its path and its public JWK.
func writeKey(t *testing.T, key crypto.Signer, kid string) (string, map[string]any) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), kid+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(raw, &jwk); err != nil {
		t.Fatal(err)
	}
	return path, jwk
}

// TestSingleSignOnPrivateKeyJWT: with a client key instead of a secret, ioc authenticates at the
// token endpoint of a provider that requires private_key_jwt (RFC 7523) — the code exchange at
// sign-in and the refresh of revalidation alike; the wrong key, or a secret, is refused there.
func TestSingleSignOnPrivateKeyJWT(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile, rsaJWK := writeKey(t, rsaKey, "ioc-rsa")
	ecFile, ecJWK := writeKey(t, ecKey, "ioc-ec")
	otherFile, _ := writeKey(t, otherKey, "ioc-ec-other")
	for _, tc := range []struct {
		name       string
		registered map[string]any // the public key registered at the provider
		edit       func(*OIDCConfig)
		detail     string // of the refusal; "": signed in
	}{
		{name: "RSA key", registered: rsaJWK, edit: func(c *OIDCConfig) { c.ClientSecret, c.ClientKeyFile, c.ClientKeyID = "", rsaFile, "ioc-rsa" }},
		{name: "EC P-256 key without kid", registered: ecJWK, edit: func(c *OIDCConfig) { c.ClientSecret, c.ClientKeyFile = "", ecFile }},
		{name: "a key the provider does not know", registered: ecJWK, edit: func(c *OIDCConfig) { c.ClientSecret, c.ClientKeyFile = "", otherFile },
			detail: "token endpoint answered 401 invalid_client"},
		{name: "a client secret where private_key_jwt is required", registered: ecJWK,
			detail: "token endpoint answered 401 invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSOClient(t, false, func(c *oidctest.Client) {
				c.Secret, c.TokenEndpointAuthMethod = "", "private_key_jwt"
				c.JWKS = map[string]any{"keys": []any{tc.registered}}
			}, tc.edit)
			s.addUser(User{Name: "op.lan", Role: RoleOperator, Areas: []string{"831"}}, "mật-khẩu-cục-bộ-op.lan")
			c := browser(t)
			s.op.Next(t, oidctest.Next{Account: "a1b2-op"})
			resp, body := s.signIn(c, "application/json", nil)
			if tc.detail != "" {
				if resp.StatusCode != http.StatusUnauthorized || errorCode(body) != "oidc_token" {
					t.Fatalf("sign-in: %s %s, want 401 oidc_token", resp.Status, body)
				}
				s.checkAudit("login_failed", "", tc.detail)
				return
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %s %s", resp.Status, body)
			}
			// Revalidation refreshes with an assertion too: the session stays.
			s.clock.Add(6 * time.Minute)
			if p := s.me(c); p == nil || p.Role != RoleOperator {
				t.Fatalf("after revalidation: %+v", p)
			}
			if got := testutil.ToFloat64(s.svc.m.revalidations.WithLabelValues("ok")); got != 1 {
				t.Errorf("revalidations ok: %v, want 1", got)
			}
		})
	}
}

// TestLoadClientKey refuses key files that cannot sign a client assertion, with the reason.
func TestLoadClientKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ec384)
	if err != nil {
		t.Fatal(err)
	}
	p224DER, err := x509.MarshalECPrivateKey(p224)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{name: "missing", path: filepath.Join(dir, "none.pem"), want: "no such file"},
		{name: "not PEM", path: write("x.pem", []byte("not a key")), want: "no PEM block"},
		{name: "RSA 1024", path: write("small.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})),
			want: "needs 2048 bits at least, it has 1024"},
		{name: "EC P-224", path: write("p224.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p224DER})), want: "P-256 or P-384"},
		{name: "EC P-384 SEC 1", path: write("p384.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := loadClientKey(tc.path, "")
			if tc.want == "" {
				if err != nil || k.alg != jose.ES384 {
					t.Fatalf("loaded %+v, %v", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSingleSignOnRevalidationConcurrent: requests of one session arriving together when its
// revalidation is due share one refresh at the provider (which rotates refresh tokens and would
// refuse the old one used twice), and all of them are let in.
func TestSingleSignOnRevalidationConcurrent(t *testing.T) {
	s := newSSO(t, false, nil)
	s.addUser(User{Name: "op.lan", Role: RoleOperator, Areas: []string{"831"}}, "mật-khẩu-cục-bộ-op.lan")
	c, _ := s.ssoBrowser()
	for round := range 3 {
		s.clock.Add(6 * time.Minute)
		var wg sync.WaitGroup
		status := make([]int, 8)
		for i := range status {
			wg.Go(func() {
				if resp, err := c.Get(s.base + "/api/v1/auth/me"); err == nil {
					resp.Body.Close()
					status[i] = resp.StatusCode
				}
			})
		}
		wg.Wait()
		for i, code := range status {
			if code != http.StatusOK {
				t.Fatalf("round %d, request %d: %d, want 200", round, i, code)
			}
		}
		if n := testutil.ToFloat64(s.svc.m.revalidations.WithLabelValues("ok")); n != float64(round+1) {
			t.Fatalf("round %d: %v revalidations, want one per round", round, n)
		}
	}
}
