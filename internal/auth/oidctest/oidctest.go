// Package oidctest starts a real OpenID Connect provider for tests: node-oidc-provider (the npm
// package oidc-provider, OpenID Certified), run by Node.js from the repository's node_modules
// (`npm ci`, .ci/deps) on a free loopback port. Its sign-in screen is replaced by a switch the test
// sets (Provider.Next); everything else — authorization, PKCE, codes, tokens, signing keys,
// discovery, JWKS, userinfo — is the provider's own. See provider.mjs.
package oidctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Client is an OAuth client registered at the provider.
type Client struct {
	ID           string   `json:"client_id"`
	Secret       string   `json:"client_secret,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
	// PostLogoutRedirectURIs are where RP-initiated logout may send the browser back to.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// BackchannelLogoutURI receives a logout token when the user's provider session ends
	// (Back-Channel Logout 1.0, with sid required: the ID tokens carry sid).
	BackchannelLogoutURI string `json:"backchannel_logout_uri,omitempty"`
	SessionRequired      bool   `json:"backchannel_logout_session_required,omitempty"`
	// GrantTypes default to authorization_code; with refresh_token, every sign-in gets a refresh
	// token (as Keycloak gives), without the offline_access scope.
	GrantTypes []string `json:"grant_types,omitempty"`
	// TokenEndpointAuthMethod is how the client authenticates (default client_secret_basic); with
	// private_key_jwt, JWKS holds its public keys ({"keys": [jwk…]}).
	TokenEndpointAuthMethod string         `json:"token_endpoint_auth_method,omitempty"`
	JWKS                    map[string]any `json:"jwks,omitempty"`
}

// Account is a user of the provider: its subject and the claims it gives (preferred_username,
// email, email_verified, name through the profile and email scopes; groups, areas, unit through the
// groups scope; realm_access and resource_access, nested as Keycloak sends them, through the roles
// scope).
type Account struct {
	Subject string
	Claims  map[string]any
}

// Next says how the provider answers the next sign-in.
type Next struct {
	Account          string         `json:"account,omitempty"`          // the subject who signs in
	Error            string         `json:"error,omitempty"`            // refuse with this OAuth error (access_denied)
	ErrorDescription string         `json:"errorDescription,omitempty"` //
	IDTokenClaims    map[string]any `json:"idTokenClaims,omitempty"`    // misbehave: rewrite these ID token claims, re-signed with the provider's key
}

// Provider is a running provider.
type Provider struct {
	Issuer string
}

// Options configure a provider.
type Options struct {
	Clients  []Client
	Accounts []Account
	// KeycloakShaped puts every granted claim in the ID token too, as Keycloak does (its mappers'
	// "add to ID token"), not only at userinfo as the spec's strict reading (and oidc-provider's
	// default) has it.
	KeycloakShaped bool
}

// Start runs a provider with clients and accounts until the test ends. It fails the test when Node.js
// or the npm package is missing (run `npm ci`).
func Start(t testing.TB, clients []Client, accounts []Account) *Provider {
	t.Helper()
	return StartWith(t, Options{Clients: clients, Accounts: accounts})
}

// StartWith runs a provider configured by o until the test ends, as Start.
func StartWith(t testing.TB, o Options) *Provider {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "provider.mjs")
	acc := map[string]map[string]any{}
	for _, a := range o.Accounts {
		acc[a.Subject] = a.Claims
	}
	cfg, err := json.Marshal(map[string]any{"clients": o.Clients, "accounts": acc, "keycloakShaped": o.KeycloakShaped})
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("oidctest: Node.js is needed for the OpenID provider (.ci/deps installs it): %v", err)
	}
	cmd := exec.Command(node, script)
	cmd.Env = append(cmd.Environ(), "OIDCTEST_CONFIG="+string(cfg))
	stderr, err := os.Create(filepath.Join(t.TempDir(), "provider.stderr")) // read only when the provider fails
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	logs := func() string {
		b, _ := os.ReadFile(stderr.Name())
		return string(b)
	}
	stdin, err := cmd.StdinPipe() // closed at cleanup: the provider exits
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidctest: start node: %v", err)
	}
	issuer, done := make(chan string, 1), make(chan error, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		issuer <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r) // keep the pipe drained until the provider exits
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case iss := <-issuer:
		if !strings.HasPrefix(iss, "http://127.0.0.1:") {
			t.Fatalf("oidctest: the provider did not start (is oidc-provider in node_modules? run npm ci): %q\n%s", iss, logs())
		}
		return &Provider{Issuer: iss}
	case <-time.After(30 * time.Second):
		t.Fatalf("oidctest: the provider did not start within 30s:\n%s", logs())
	}
	return nil
}

// Sign returns a JWT with claims, signed with the provider's own key: the tokens of a misbehaving
// provider (a logout token with a nonce, replayed, for another client …).
func (p *Provider) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return string(p.call(t, "/test/sign", claims, http.StatusOK))
}

// Next sets how the provider answers the next sign-in.
func (p *Provider) Next(t testing.TB, n Next) {
	t.Helper()
	p.call(t, "/test/next", n, http.StatusNoContent)
}

// SetAccount changes an account at the provider: its claims (new groups, roles), or disabled, so
// the provider no longer knows it (its refresh tokens are refused, it cannot sign in).
func (p *Provider) SetAccount(t testing.TB, a Account, disabled bool) {
	t.Helper()
	p.call(t, "/test/account", map[string]any{"subject": a.Subject, "claims": a.Claims, "disabled": disabled}, http.StatusNoContent)
}

// Down makes the provider answer every request but the harness's own with 503 (down is true) or
// serve again.
func (p *Provider) Down(t testing.TB, down bool) {
	t.Helper()
	p.call(t, "/test/down", map[string]any{"down": down}, http.StatusNoContent)
}

var (
	logoutActionRE = regexp.MustCompile(`<form id="op.logoutForm" method="post" action="([^"]+)"`)
	logoutXSRFRE   = regexp.MustCompile(`name="xsrf" value="([^"]+)"`)
)

// SignOut signs the user of browser (its cookie jar holds the provider's session) out at the
// provider as a person would: it opens the end-session page — at u, a relying party's logout URL,
// or the provider's own end_session_endpoint when u is "" — and answers yes. It returns the URL
// the browser ends at. The provider then ends its session and posts back-channel logout tokens.
func (p *Provider) SignOut(t testing.TB, browser *http.Client, u string) *url.URL {
	t.Helper()
	if u == "" {
		u = p.Issuer + "/session/end"
	}
	b := *browser
	b.CheckRedirect = nil
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action, xsrf := logoutActionRE.FindSubmatch(page), logoutXSRFRE.FindSubmatch(page)
	if action == nil || xsrf == nil {
		t.Fatalf("oidctest: no sign-out form at the provider: %s\n%.2000s", resp.Status, page)
	}
	target, err := resp.Request.URL.Parse(html.UnescapeString(string(action[1])))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = b.PostForm(target.String(), url.Values{"xsrf": {string(xsrf[1])}, "logout": {"yes"}}); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL
}

// call posts v as JSON to one of the harness's own routes and returns the answer, failing the test
// unless its status is want.
func (p *Provider) call(t testing.TB, path string, v any, want int) []byte {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.Issuer+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != want {
		t.Fatalf("oidctest: %s: %s %v", path, resp.Status, err)
	}
	return b
}
