package report

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/pgtest"
	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/report/reporttest"
	"github.com/ioc-vn/ioc/stream"
)

var drivers = []string{DriverSQLite, DriverPostgres}

// openTestStore opens a fresh store: a temp SQLite file, or a uniquely named PostgreSQL schema that
// is dropped when the test ends. A PostgreSQL that cannot be reached fails the test.
func openTestStore(t testing.TB, driver string) Store {
	t.Helper()
	ctx := context.Background()
	cfg := StoreConfig{Driver: driver, Path: filepath.Join(t.TempDir(), "reports.db")}
	if driver == DriverPostgres {
		cfg.DSN = pgtest.Schema(t, "report_test")
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type env struct {
	t       testing.TB
	svc     *Service
	srv     *httptest.Server
	clock   *reporttest.Clock
	store   Store
	mu      sync.Mutex
	events  []stream.Event
	overdue []Report
	told    []Escalation // escalation steps the notifier took
	refuse  error        // when set, the notifier refuses every step with it
}

// NotifyEscalation records a step, or refuses it with e.refuse.
func (e *env) NotifyEscalation(_ context.Context, s Escalation) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refuse != nil {
		return e.refuse
	}
	e.told = append(e.told, s)
	return nil
}

var testStart = time.Date(2025, 6, 10, 8, 0, 0, 0, time.UTC)

func testConfig(t testing.TB) Config {
	cfg := Defaults()
	cfg.Catalogue = "../../configs/services.yaml"
	cfg.Calendar.Holidays = "../../configs/holidays-vn.yaml"
	cfg.PhotoDir = t.TempDir()
	cfg.PublicURL = "https://ioc.example.vn"
	cfg.BotCheck = "off"
	cfg.FormSecret = strings.Repeat("s", 32)
	cfg.MaxPhotoBytes = 1 << 20
	cfg.MaxBodyBytes = 6 << 20
	return cfg
}

func newEnv(t testing.TB, driver string, edit func(*Config)) *env {
	t.Helper()
	cfg := testConfig(t)
	if edit != nil {
		edit(&cfg)
	}
	cat, err := LoadCatalogue(cfg.Catalogue)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: reporttest.NewClock(testStart), store: openTestStore(t, driver)}
	lim := photo.DefaultLimits()
	lim.MaxBytes = cfg.MaxPhotoBytes
	lim.MaxDecodeBytes = min(lim.MaxDecodeBytes, cfg.PhotoDecode.MaxBytes)
	svc, err := New(cfg, Deps{
		Store: e.store, Catalogue: cat, Photos: &photo.Store{Blobs: &photo.Disk{Dir: cfg.PhotoDir}, Limits: lim},
		Locate: reporttest.Locate,
		Place:  NamePlacer(testPlaces),
		OnChange: func(ev stream.Event) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.events = append(e.events, ev)
		},
		OnOverdue: func(r Report) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.overdue = append(e.overdue, r)
		},
		Notifier: e,
		// X-Test-Role: unit stands in for staff of a handling unit, who see reporters only when shared.
		SeesContact: func(r *http.Request) bool { return r.Header.Get("X-Test-Role") != "unit" },
		Actor:       func(r *http.Request) string { return r.Header.Get("X-Test-Actor") },
		Registerer:  prometheus.NewRegistry(),
		Now:         e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux := http.NewServeMux()
	svc.Register(mux)
	// X-Test-Client-IP stands in for the access layer's resolved client address.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip := r.Header.Get("X-Test-Client-IP"); ip != "" {
			r = r.WithContext(httpapi.WithClientIP(r.Context(), ip))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// testPlaces are the areas address-only requests are placed in: "Phường 3" is in two districts.
var testPlaces = []PlaceArea{
	{Code: "83", Name: "Bến Tre", Level: "province", Point: orb.Point{106.38, 10.24}},
	{Code: "829", Name: "Thành phố Bến Tre", Level: "district", Parent: "83", Point: orb.Point{106.38, 10.24}},
	{Code: "831", Name: "Huyện Châu Thành", Type: "Huyện", Level: "district", Parent: "83", Point: orb.Point{106.30, 10.28}},
	{Code: "834", Name: "Giồng Trôm", Level: "district", Parent: "83", Point: orb.Point{106.50, 10.15}},
	{Code: "82903", Name: "Phường 3", Level: "commune", Parent: "829", Point: orb.Point{106.3801, 10.2402}},
	{Code: "83103", Name: "Tân Thạch", Level: "commune", Parent: "831", Point: orb.Point{106.3002, 10.2903}},
	{Code: "83403", Name: "Phường 3", Level: "commune", Parent: "834", Point: orb.Point{106.5003, 10.1504}},
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, path, contentType string, body io.Reader, hdr map[string]string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (e *env) get(path string) resp { return e.do("GET", path, "", nil, nil) }

func (e *env) postForm(path string, v url.Values, hdr map[string]string) resp {
	return e.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()), hdr)
}

func (e *env) operator(method, path, body string) resp {
	var r io.Reader
	ct := ""
	if body != "" {
		r, ct = strings.NewReader(body), "application/json"
	}
	return e.do(method, path, ct, r, map[string]string{"X-Test-Actor": "op.nguyen"})
}

// apiKey issues an Open311 key through the admin route.
func (e *env) apiKey() string {
	e.t.Helper()
	r := e.operator("POST", "/api/v1/admin/open311/keys", `{"client":"Ứng dụng Bến Tre Smart"}`)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create key: %d %s", r.status, r.body)
	}
	var out struct {
		APIKey string `json:"api_key"`
	}
	mustJSONDecode(e.t, r.body, &out)
	return out.APIKey
}

// contactValues are the private fields every test submission carries, so leaks can be searched for.
var contactValues = map[string]string{
	"first_name": "Trần", "last_name": "Thị Bí Mật", "phone": "0909123457", "email": "bimat@example.vn",
	"device_id": "device-secret-42", "account_id": "acct-secret-7",
}

func (e *env) assertNoContact(where, body string) {
	e.t.Helper()
	for k, v := range contactValues {
		if strings.Contains(body, v) {
			e.t.Errorf("%s leaks contact field %s (%q): %s", where, k, v, body)
		}
	}
}
