package app

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/auth/oidctest"
	"github.com/ioc-vn/ioc/internal/config"
)

// TestOIDCOffAnswers404: without auth.oidc the SSO routes answer 404 and the pages are told there is
// no SSO (the sign-in form shows no SSO button).
func TestOIDCOffAnswers404(t *testing.T) {
	a := startAppWith(t, testConfig(t), Options{Web: dashboard.Web()})
	base := "http://" + a.HTTP.Addr()
	for _, p := range []string{"/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without SSO: %s", p, resp.Status)
		}
	}
	if ui := uiConfig(t, base); ui["sso"] != nil {
		t.Errorf("ui config offers SSO while it is off: %v", ui)
	}
}

// TestOIDCSignInThroughTheApp signs in through a real OpenID provider (oidctest) into the whole of
// ioc: the account is provisioned as an operator of Ba Tri, and the session works on the API like a
// password one — scoped alarm list, admin routes refused — and is in the audit log.
func TestOIDCSignInThroughTheApp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // ioc's address must be registered at the provider first
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	op := oidctest.Start(t, []oidctest.Client{{ID: "ioc-bentre", Secret: "ioc-bentre-client-secret-2026",
		RedirectURIs: []string{"http://" + addr + "/auth/oidc/callback"}}},
		[]oidctest.Account{{Subject: "5f0c2a", Claims: map[string]any{"preferred_username": "op.ba-tri", "groups": []string{"ioc-ba-tri"}}}})
	cfg := testConfig(t)
	cfg.HTTP.Addr = addr
	cfg.Auth.OIDC = oidcConfig(op.Issuer, addr)
	startAppWith(t, cfg, Options{Web: dashboard.Web(), AdminFile: filepath.Join("..", "..", "configs", "admin", "83.geojson")})
	base := "http://" + addr
	if ui := uiConfig(t, base); ui["sso"] != true {
		t.Errorf("ui config does not offer SSO: %v", ui)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 20 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	op.Next(t, oidctest.Next{Account: "5f0c2a"})
	resp, err := browser.Get(base + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != base+"/" {
		t.Fatalf("sign-in ended at %s with %s, want the operator page", resp.Request.URL, resp.Status)
	}
	var me auth.Principal
	if code := getJSONWith(t, browser, base+"/api/v1/auth/me", &me); code != http.StatusOK ||
		me.User != "op.ba-tri" || me.Role != auth.RoleOperator || !slices.Equal(me.Areas, []string{"83-831"}) {
		t.Fatalf("me: %d %+v", code, me)
	}
	for path, want := range map[string]int{"/api/v1/alarms": http.StatusOK, "/api/v1/admin/users": http.StatusForbidden} {
		if code := getJSONWith(t, browser, base+path, nil); code != want {
			t.Errorf("GET %s with the SSO session: %d, want %d", path, code, want)
		}
	}
	var audit struct{ Entries []auth.AuditEntry }
	q := url.Values{"actor": {"op.ba-tri"}, "action": {"login"}}
	if code := getJSON(t, base+"/api/v1/admin/audit?"+q.Encode(), &audit); code != http.StatusOK ||
		len(audit.Entries) != 1 || !strings.Contains(audit.Entries[0].Detail, "via oidc") {
		t.Errorf("audit of the SSO sign-in: %d %+v", code, audit.Entries)
	}
}

func oidcConfig(issuer, addr string) auth.OIDCConfig {
	c := config.Default().Auth.OIDC
	c.Issuer, c.ClientID, c.ClientSecret = issuer, "ioc-bentre", "ioc-bentre-client-secret-2026"
	c.RedirectURL = "http://" + addr + "/auth/oidc/callback"
	c.Roles = []auth.OIDCRole{{Value: "ioc-ba-tri", Role: auth.RoleOperator, Areas: []string{"83-831"}}}
	c.UnknownUsers = auth.UnknownProvision
	return c
}

func uiConfig(t *testing.T, base string) map[string]any {
	t.Helper()
	var ui map[string]any
	if code := getJSON(t, base+"/api/v1/ui/config", &ui); code != http.StatusOK {
		t.Fatalf("ui config: %d", code)
	}
	return ui
}

// getJSONWith GETs url with client (a browser) and decodes a 200 answer into v (when not nil).
func getJSONWith(t *testing.T, client *http.Client, url string, v any) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestOIDCBackchannelLogoutClosesLive: a user signed in through SSO with the live map open signs
// out at the provider (not in ioc); the provider's back-channel logout ends the ioc session and the
// websocket is closed by the server (1008), through the whole of ioc.
func TestOIDCBackchannelLogoutClosesLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	op := oidctest.Start(t, []oidctest.Client{{ID: "ioc-bentre", Secret: "ioc-bentre-client-secret-2026",
		RedirectURIs: []string{base + "/auth/oidc/callback"}, BackchannelLogoutURI: base + "/auth/oidc/backchannel-logout", SessionRequired: true}},
		[]oidctest.Account{{Subject: "5f0c2a", Claims: map[string]any{"preferred_username": "op.ba-tri", "groups": []string{"ioc-ba-tri"}}}})
	cfg := testConfig(t)
	cfg.HTTP.Addr = addr
	cfg.Auth.OIDC = oidcConfig(op.Issuer, addr)
	cfg.Live.PingInterval = time.Second // the shortest allowed: the credential is rechecked at every ping
	startAppWith(t, cfg, Options{Web: dashboard.Web(), AdminFile: filepath.Join("..", "..", "configs", "admin", "83.geojson")})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	op.Next(t, oidctest.Next{Account: "5f0c2a"})
	resp, err := browser.Get(base + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	var cookies []string
	for _, c := range jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	conn := dialAs(t, base, http.Header{"Cookie": {strings.Join(cookies, "; ")}, "Origin": {base}})
	op.SignOut(t, browser, "")
	if err := readUntilClosed(conn); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("connection ended with %v, want a 1008 close from the server", err)
	}
	if code := getJSONWith(t, browser, base+"/api/v1/auth/me", nil); code != http.StatusUnauthorized {
		t.Errorf("after the provider's back-channel logout /me answers %d, want 401", code)
	}
}
