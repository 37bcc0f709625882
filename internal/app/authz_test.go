package app

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/collectors/webhook"
	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/camera"
)

var update = flag.Bool("update", false, "rewrite testdata/authz_matrix.txt from the running router")

// authzApp starts ioc with every route-adding component on (web pages, camera push endpoints), and a
// user of each role.
func authzApp(t *testing.T) (*App, map[string]*caller) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Hikvision.Enabled = true
	cfg.Webhook.Enabled = true
	cfg.Hikvision.Auth = camera.AuthConfig{Mode: "none", AllowCIDRs: []string{"127.0.0.1/32"}}
	cfg.Webhook.Sources = []webhook.SourceConfig{{Name: "vendor-a", Auth: camera.AuthConfig{Mode: camera.AuthHMAC, Secret: strings.Repeat("s", 32)}}}
	cfg.Reports.MinFillTime = 0
	ctx := t.Context()
	a := startAppWith(t, cfg, Options{Web: dashboard.Web(), AdminFile: filepath.Join("..", "..", "configs", "admin", "83.geojson")})
	for _, u := range []auth.User{
		{Name: "op.lan", Role: auth.RoleOperator},
		{Name: "op.ba-tri", Role: auth.RoleOperator, Areas: []string{"83-831"}},
		{Name: "lead.hoa", Role: auth.RoleLeader},
		{Name: "unit.ba-tri", Role: auth.RoleUnit, Unit: "UBND_BA_TRI"},
	} {
		if err := a.Auth.AddUser(ctx, u, "mật-khẩu-"+u.Name); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + a.HTTP.Addr()
	callers := map[string]*caller{
		"anonymous": {base: base},
		"admin":     signIn(t, base, "admin", testPassword),
		"operator":  signIn(t, base, "op.lan", "mật-khẩu-op.lan"),
		"leader":    signIn(t, base, "lead.hoa", "mật-khẩu-lead.hoa"),
		"unit":      signIn(t, base, "unit.ba-tri", "mật-khẩu-unit.ba-tri"),
	}
	_, secret, err := a.Auth.CreateToken(ctx, "lead.hoa", "giám sát / monitoring")
	if err != nil {
		t.Fatal(err)
	}
	callers["token(leader)"] = &caller{base: base, hdr: http.Header{"Authorization": {"Bearer " + secret}}}
	return a, callers
}

var roleColumns = []string{"anonymous", "admin", "operator", "leader", "unit", "token(leader)"}

// caller is a signed-in browser (session cookie) or a token client.
type caller struct {
	base string
	hdr  http.Header
}

func signIn(t *testing.T, base, user, password string) *caller {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "password": password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			return &caller{base: base, hdr: http.Header{"Cookie": {c.Name + "=" + c.Value}}}
		}
	}
	t.Fatalf("sign in %s: %d, no session cookie", user, resp.StatusCode)
	return nil
}

func (c *caller) do(t *testing.T, method, path, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// probes turns a registered pattern into requests that the mux routes to it: its method (GET and
// POST for a pattern without one) and its path with sample wildcard values.
func probes(pattern string) (methods []string, path string) {
	method, p, ok := strings.Cut(pattern, " ")
	if !ok {
		method, p = "", pattern
	}
	p = wildcard.ReplaceAllStringFunc(p, func(w string) string {
		switch w {
		case "{file}":
			return "discovery.json"
		case "{$}":
			return ""
		}
		return "1"
	})
	if strings.HasSuffix(p, "/") && p != "/" {
		p += "x"
	}
	if method == "" {
		return []string{"GET", "POST"}, p
	}
	return []string{method}, p
}

// TestAuthorizationMatrix calls every route registered on the real router as every role and checks
// each answer against testdata/authz_matrix.txt (401: sign-in required, 403: refused, "-": let
// through to the handler). A route added without a rule in auth.DefaultPolicy fails, and so does a
// route missing from the matrix file: run with -update and review the diff.
func TestAuthorizationMatrix(t *testing.T) {
	a, callers := authzApp(t)
	mux := a.HTTP.Handler().(*auth.Guard).Mux()
	patterns, err := auth.Patterns(mux)
	if err != nil {
		t.Fatal(err)
	}
	unruled, err := auth.DefaultPolicy().Unruled(mux)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range unruled {
		t.Errorf("route %q has no rule in auth.DefaultPolicy: add one (and a row in testdata/authz_matrix.txt)", p)
	}
	// Signing in or out ends the session the caller presents: do those last.
	last := func(p string) int {
		return boolInt(strings.HasSuffix(p, "/auth/logout") || strings.HasSuffix(p, "/auth/login"))
	}
	slices.SortStableFunc(patterns, func(x, y string) int { return last(x) - last(y) })
	var lines []string
	public := map[string]bool{}
	for _, pattern := range patterns {
		methods, path := probes(pattern)
		for _, m := range methods {
			req, _ := http.NewRequest(m, "http://x"+path, nil)
			if _, got := mux.Handler(req); got != pattern {
				t.Fatalf("probe %s %s reaches %q, not %q: fix probes()", m, path, got, pattern)
			}
			row := fmt.Sprintf("%-44s %-6s", pattern, m)
			for _, role := range roleColumns {
				var body io.Reader
				ct := ""
				if m != "GET" {
					body, ct = strings.NewReader("{}"), "application/json"
				}
				code, raw := callers[role].do(t, m, path, ct, body)
				cell := "-"
				if refused(code, raw) {
					cell = fmt.Sprint(code)
				}
				if role == "anonymous" && cell == "-" {
					public[m+" "+pattern] = true
				}
				row += fmt.Sprintf(" %-13s", role+"="+cell)
			}
			lines = append(lines, strings.TrimRight(row, " "))
		}
	}
	slices.Sort(lines)
	got := "# route pattern × role → 401 (sign-in required), 403 (refused), - (reaches the handler, whatever it answers)\n" +
		"# generated by TestAuthorizationMatrix; refresh with: go test ./internal/app -run AuthorizationMatrix -update\n" +
		strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "authz_matrix.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("authorization matrix differs from %s (a new route, or a changed rule):\n%s", golden, lineDiff(string(want), got))
	}

	// The public surface, written out by hand: citizen submit and track, Open311, the public report
	// map, health and readiness, the pages and their configuration, sign-in, and camera pushes (which
	// authenticate each source themselves).
	wantPublic := []string{
		"GET GET /healthz", "GET GET /readyz", "GET /", "GET /api/", "POST /api/",
		"GET GET /report", "GET GET /track/{code}", "GET GET /kpi", "GET GET /api/v1/ui/config", "GET GET /{$}",
		"POST POST /api/v1/auth/login", "POST POST /api/v1/auth/logout",
		"GET GET /auth/oidc/login", "GET GET /auth/oidc/callback", // single sign-on; 404 unless configured
		"POST POST /auth/oidc/backchannel-logout", // the provider's logout token, verified (signature, issuer, audience, events, jti)
		"GET GET /api/v1/boundaries",              // admin boundaries only (no entities), for the citizen page's map
		"GET GET /api/v1/reports/services", "GET GET /api/v1/reports/form-token", "POST POST /api/v1/reports",
		"GET GET /api/v1/reports/track/{code}", "POST POST /api/v1/reports/track/{code}/reopen", "POST POST /api/v1/reports/track/{code}/rating",
		"GET GET /api/v1/reports/nearby", "GET GET /api/v1/reports/map",
		"GET GET /api/v1/reports/photos/{id}", "GET GET /api/v1/reports/photos/{id}/thumb",
		"GET GET /open311/v2/{file}", "POST POST /open311/v2/{file}", "GET GET /open311/v2/services/{file}",
		"GET GET /open311/v2/requests/{file}", "GET GET /open311/v2/tokens/{file}",
		"POST POST /api/v1/ingest/hikvision", "POST /api/v1/ingest/camera/",
	}
	var gotPublic []string
	for k := range public {
		gotPublic = append(gotPublic, k)
	}
	slices.Sort(gotPublic)
	slices.Sort(wantPublic)
	var extra []string
	for _, p := range gotPublic {
		if !slices.Contains(wantPublic, p) && registered(patterns, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Errorf("routes reachable without signing in beyond the public surface: %q", extra)
	}
}

// refused reports whether the access layer refused a request (rather than the handler answering).
func refused(code int, body string) bool {
	if code != http.StatusUnauthorized && code != http.StatusForbidden {
		return false
	}
	var e struct{ Error struct{ Code string } }
	return json.Unmarshal([]byte(body), &e) == nil && (e.Error.Code == "unauthorized" || e.Error.Code == "forbidden")
}

// registered reports whether the pattern of a "METHOD pattern" key is on the router (pages exist
// only when the web assets do).
func registered(patterns []string, key string) bool {
	_, p, _ := strings.Cut(key, " ")
	return slices.Contains(patterns, p)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPublicResponsesCarryNoContactData files a report with a name, phone and e-mail, lets an
// operator move it to a public state, then reads every public route that shows reports: none may
// carry the contact data, which the operator's own view does show.
func TestPublicResponsesCarryNoContactData(t *testing.T) {
	a, callers := authzApp(t)
	anon, op := callers["anonymous"], callers["operator"]
	var tok struct{ Token string }
	if code := getJSON(t, anon.base+"/api/v1/reports/form-token", &tok); code != 200 {
		t.Fatalf("form token: %d", code)
	}
	contact := []string{"Lê Thị Bích", "0912345678", "bich.le@example.vn"}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"category": "NGAP_NUOC", "description": "Ngập sâu trước chợ Ba Tri",
		"lon": "106.5955", "lat": "10.0403", "name": contact[0], "phone": contact[1], "email": contact[2], "form_token": tok.Token} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	code, raw := anon.do(t, "POST", "/api/v1/reports", mw.FormDataContentType(), &body)
	var created struct {
		ID   int64
		Code string
	}
	if err := json.Unmarshal([]byte(raw), &created); err != nil || code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, raw)
	}
	id := fmt.Sprint(created.ID)
	if code, raw := op.do(t, "POST", "/api/v1/reports/"+id+"/transition", "application/json",
		strings.NewReader(`{"to":"triaged","note":"đã xác minh"}`)); code != http.StatusOK {
		t.Fatalf("triage: %d %s", code, raw)
	}
	// The operator sees the contact data: the check below can fail.
	if code, raw := op.do(t, "GET", "/api/v1/reports/"+id, "", nil); code != 200 || !strings.Contains(raw, contact[1]) {
		t.Fatalf("operator view: %d, contact missing: %s", code, raw)
	}
	checked := 0
	for _, path := range []string{
		"/api/v1/reports/track/" + created.Code,
		"/api/v1/reports/map",
		"/api/v1/reports/nearby?" + url.Values{"lon": {"106.5955"}, "lat": {"10.0403"}, "category": {"NGAP_NUOC"}}.Encode(),
		"/open311/v2/requests/" + id + ".json",
		"/open311/v2/requests/" + id + ".xml",
		"/open311/v2/requests.json",
		"/open311/v2/requests.xml",
		"/open311/v2/tokens/" + created.Code + ".json",
	} {
		code, raw := anon.do(t, "GET", path, "", nil)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, short(raw))
			continue
		}
		if !strings.Contains(raw, "Ngập sâu") && !strings.Contains(raw, id) {
			t.Errorf("GET %s does not show the report, so it proves nothing: %s", path, short(raw))
			continue
		}
		checked++
		for _, c := range contact {
			if strings.Contains(raw, c) {
				t.Errorf("public GET %s carries contact data %q", path, c)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no public route showed the report")
	}
	_ = a
}

// TestLiveNeedsSignInAndRefusesForeignOrigins: the websocket upgrade is authenticated (cookie or
// token), and a signed-in browser's cookie is useless from another site's page.
func TestLiveNeedsSignInAndRefusesForeignOrigins(t *testing.T) {
	_, callers := authzApp(t)
	admin := callers["admin"]
	wsURL := "ws" + strings.TrimPrefix(admin.base, "http") + "/api/v1/live"
	for _, tc := range []struct {
		name string
		hdr  http.Header
		want int
	}{
		{"anonymous", http.Header{}, http.StatusUnauthorized},
		{"unit staff", callers["unit"].hdr, http.StatusForbidden},
		{"session from a foreign page", withHeader(admin.hdr, "Origin", "https://evil.example"), http.StatusForbidden},
		{"session, same origin", withHeader(admin.hdr, "Origin", admin.base), http.StatusSwitchingProtocols},
		{"leader token", callers["token(leader)"].hdr, http.StatusSwitchingProtocols},
	} {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL, tc.hdr)
		if conn != nil {
			conn.Close()
		}
		if resp == nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

func withHeader(h http.Header, k, v string) http.Header {
	out := h.Clone()
	out.Set(k, v)
	return out
}

// TestScopedStaffSeeOnlyTheirReports: an operator scoped to another district and unit staff of another
// unit neither list nor open a citizen report; those of its district and unit do.
func TestScopedStaffSeeOnlyTheirReports(t *testing.T) {
	a, callers := authzApp(t)
	anon, admin := callers["anonymous"], callers["admin"]
	var tok struct{ Token string }
	if code := getJSON(t, anon.base+"/api/v1/reports/form-token", &tok); code != 200 {
		t.Fatalf("form token: %d", code)
	}
	form := url.Values{"category": {"NGAP_NUOC"}, "description": {"Ngập sâu đường Đồng Khởi"}, "lon": {"106.3759"},
		"lat": {"10.2415"}, "phone": {"0909000111"}, "form_token": {tok.Token}, "attribute[depth_cm]": {"30"}}
	code, raw := anon.do(t, "POST", "/api/v1/reports", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	var created struct{ ID int64 }
	if err := json.Unmarshal([]byte(raw), &created); err != nil || code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, raw)
	}
	id := fmt.Sprint(created.ID)
	code, raw = admin.do(t, "GET", "/api/v1/reports/"+id, "", nil)
	var view struct {
		Report struct {
			Unit  string
			Areas map[string]string
		}
	}
	if err := json.Unmarshal([]byte(raw), &view); err != nil || code != 200 || view.Report.Unit == "" || view.Report.Areas["district"] == "" {
		t.Fatalf("admin view: %d %s", code, raw)
	}
	district, unit := view.Report.Areas["district"], view.Report.Unit
	other := "836"
	if district == other {
		other = "835"
	}
	ctx := t.Context()
	for _, u := range []auth.User{
		{Name: "op.in", Role: auth.RoleOperator, Areas: []string{district}},
		{Name: "op.out", Role: auth.RoleOperator, Areas: []string{other}},
		{Name: "unit.in", Role: auth.RoleUnit, Unit: unit},
		{Name: "unit.out", Role: auth.RoleUnit, Unit: "Phòng Kinh tế và Hạ tầng huyện khác"},
	} {
		if err := a.Auth.AddUser(ctx, u, "mật-khẩu-"+u.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		user     string
		sees     bool
		listCode int
	}{
		{"op.in", true, 200}, {"op.out", false, 200}, {"unit.in", true, 200}, {"unit.out", false, 200},
	} {
		c := signIn(t, anon.base, tc.user, "mật-khẩu-"+tc.user)
		code, raw := c.do(t, "GET", "/api/v1/reports/"+id, "", nil)
		if want := map[bool]int{true: 200, false: 404}[tc.sees]; code != want {
			t.Errorf("%s opens report %s: %d, want %d (%s)", tc.user, id, code, want, short(raw))
		}
		code, raw = c.do(t, "GET", "/api/v1/reports", "", nil)
		var list []struct{ ID int64 }
		if err := json.Unmarshal([]byte(raw), &list); err != nil || code != tc.listCode {
			t.Errorf("%s lists: %d %s", tc.user, code, short(raw))
			continue
		}
		if listed := len(list) == 1 && list[0].ID == created.ID; listed != tc.sees || len(list) > 1 {
			t.Errorf("%s lists %v, want the report listed: %v", tc.user, list, tc.sees)
		}
		code, _ = c.do(t, "POST", "/api/v1/reports/"+id+"/transition", "application/json", strings.NewReader(`{"to":"triaged","note":"x"}`))
		if tc.sees && code == http.StatusNotFound || !tc.sees && code != http.StatusNotFound {
			t.Errorf("%s moves report %s: %d", tc.user, id, code)
		}
	}
	// The move is recorded as the signed-in user's, in the report's history and in the audit log.
	code, raw = admin.do(t, "GET", "/api/v1/reports/"+id, "", nil)
	var hist struct {
		History []struct{ Actor, To string }
	}
	if err := json.Unmarshal([]byte(raw), &hist); err != nil || code != 200 || len(hist.History) < 2 ||
		hist.History[1].Actor != "op.in" || hist.History[1].To != "triaged" {
		t.Errorf("report history %+v (%d): want the triage by op.in", hist.History, code)
	}
	code, raw = admin.do(t, "GET", "/api/v1/admin/audit?actor=op.in&action="+url.QueryEscape("POST /api/v1/reports/{id}/transition"), "", nil)
	var audit struct{ Entries []auth.AuditEntry }
	if err := json.Unmarshal([]byte(raw), &audit); err != nil || code != 200 || len(audit.Entries) != 1 ||
		audit.Entries[0].Status != 200 || audit.Entries[0].Path != "/api/v1/reports/"+id+"/transition" {
		t.Errorf("audit of op.in's move: %d %s", code, short(raw))
	}
	code, raw = admin.do(t, "GET", "/api/v1/admin/audit?actor=op.out", "", nil)
	if err := json.Unmarshal([]byte(raw), &audit); err != nil || code != 200 || len(audit.Entries) < 2 ||
		audit.Entries[0].Status != http.StatusNotFound {
		t.Errorf("audit of op.out's refused move: %d %s", code, short(raw))
	}
}
