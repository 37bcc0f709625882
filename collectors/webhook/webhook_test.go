package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/camera/cameratest"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	hmacSecret  = "s3cret-hmac-key-0123456789"
	bearerToken = "bearer-token-0123456789"
)

var t0 = time.Date(2026, 11, 23, 9, 30, 0, 0, time.FixedZone("ICT", 7*3600))

func newTestCollector(t *testing.T, now *time.Time) (*Collector, *cameratest.Recorder, *prometheus.Registry) {
	t.Helper()
	cams, err := camera.NewRegistry([]camera.Config{{ID: "cam-gate", Name: "Cổng chính", Location: [2]float64{106.7, 10.78},
		Source: camera.SourceConfig{Kind: camera.KindWebhook, Webhook: "vendor-a", Name: "gate-1"}}}, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.Sources = []SourceConfig{
		{Name: "vendor-a", Auth: camera.AuthConfig{Mode: camera.AuthHMAC, Secret: hmacSecret}},
		{Name: "vendor-b", Auth: camera.AuthConfig{Mode: camera.AuthBearer, Secret: bearerToken, AllowCIDRs: []string{"10.0.0.0/8"}}},
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, cams, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return *now }
	rec := cameratest.NewRecorder()
	c.out.Open(rec.Emit)
	return c, rec, reg
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIngestAuth(t *testing.T) {
	body := fixture(t, "events.json")
	ts := strconv.FormatInt(t0.Unix(), 10)
	good := camera.SignatureHeader([]byte(hmacSecret), ts, body)
	tests := []struct {
		name   string
		source string
		remote string
		header map[string]string
		status int
		reason string // auth failure reason counted, if any
	}{
		{name: "hmac valid", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: good}, status: 202},
		{name: "hmac replayed", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: good}, status: 401, reason: camera.ReasonReplay},
		{name: "hmac replayed in upper-case hex", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256="))}, status: 401, reason: camera.ReasonReplay},
		{name: "hmac replayed in mixed-case hex", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: good[:20] + strings.ToUpper(good[20:40]) + good[40:]}, status: 401, reason: camera.ReasonReplay},
		{name: "hmac wrong secret", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: camera.SignatureHeader([]byte("other-secret-0123456789"), ts, body)}, status: 401, reason: camera.ReasonBadSignature},
		{name: "hmac stale", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: strconv.FormatInt(t0.Add(-6*time.Minute).Unix(), 10),
			camera.HeaderSignature: camera.SignatureHeader([]byte(hmacSecret), strconv.FormatInt(t0.Add(-6*time.Minute).Unix(), 10), body)}, status: 401, reason: camera.ReasonStale},
		{name: "hmac future", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: strconv.FormatInt(t0.Add(6*time.Minute).Unix(), 10),
			camera.HeaderSignature: camera.SignatureHeader([]byte(hmacSecret), strconv.FormatInt(t0.Add(6*time.Minute).Unix(), 10), body)}, status: 401, reason: camera.ReasonStale},
		{name: "hmac missing", source: "vendor-a", status: 401, reason: camera.ReasonNoCredential},
		{name: "hmac not hex", source: "vendor-a", header: map[string]string{camera.HeaderTimestamp: ts, camera.HeaderSignature: "sha256=zz"}, status: 401, reason: camera.ReasonBadSignature},
		{name: "bearer valid", source: "vendor-b", remote: "10.1.2.3:5555", header: map[string]string{"Authorization": "Bearer " + bearerToken}, status: 202},
		{name: "bearer wrong", source: "vendor-b", remote: "10.1.2.3:5555", header: map[string]string{"Authorization": "Bearer nope"}, status: 401, reason: camera.ReasonBadToken},
		{name: "bearer outside allow-list", source: "vendor-b", remote: "192.0.2.9:5555", header: map[string]string{"Authorization": "Bearer " + bearerToken}, status: 403, reason: camera.ReasonIPDenied},
		{name: "unknown source", source: "nobody", status: 404},
	}
	now := t0
	c, rec, reg := newTestCollector(t, &now)
	h := c.Handler()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.Events())
			failBefore := testutil.ToFloat64(c.m.AuthFailures.WithLabelValues(tc.reason))
			req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/"+tc.source, bytes.NewReader(body))
			if tc.remote != "" {
				req.RemoteAddr = tc.remote
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 202 {
				var env struct {
					Error struct {
						Status int    `json:"status"`
						Code   string `json:"code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error.Status != tc.status {
					t.Fatalf("error body %q (%v)", w.Body, err)
				}
				if tc.reason != "" && env.Error.Code != tc.reason {
					t.Errorf("code %q, want %q", env.Error.Code, tc.reason)
				}
				if len(rec.Events()) != before {
					t.Error("a refused request emitted events")
				}
			}
			if tc.reason != "" {
				if got := testutil.ToFloat64(c.m.AuthFailures.WithLabelValues(tc.reason)) - failBefore; got != 1 {
					t.Errorf("auth failures{%s} grew by %g, want 1", tc.reason, got)
				}
			}
		})
	}
	if n, err := testutil.GatherAndCount(reg, "ioc_webhook_auth_failures_total"); err != nil || n == 0 {
		t.Errorf("auth failure metric not exported (%d, %v)", n, err)
	}
}

func TestIngestEvents(t *testing.T) {
	now := t0
	c, rec, _ := newTestCollector(t, &now)
	body := fixture(t, "events.json")
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/vendor-b", bytes.NewReader(body))
	req.RemoteAddr = "10.0.0.7:999"
	req.Header.Set("Authorization", "Bearer "+bearerToken)
	w := httptest.NewRecorder()
	c.Handler().ServeHTTP(w, req)
	if w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	evs := rec.Events()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2 (source vendor-b has no registered camera gate-1)", len(evs))
	}
	e := evs[0]
	if e.Type != stream.TypeCamera || e.Kind != "camera" || e.Entity != "webhook:vendor-b:gate-1" || e.Attrs["registered"] != "false" {
		t.Errorf("unregistered event = %+v", e)
	}
	if e.Attrs["label"] != "person" || e.Attrs["zones"] != "gate,parking" || e.Values["score"] != 0.87 || e.Values["count"] != 1 || e.Attrs["x_model"] != "yolo-v8" {
		t.Errorf("event fields = %+v", e)
	}
	if e2 := evs[1]; !e2.HasLocation || e2.Location[0] != 106.69 || e2.Attrs["location_source"] != "payload" || e2.Attrs["state"] != "ended" || e2.Values["duration_s"] != 12.5 {
		t.Errorf("second event = %+v", e2)
	}

	// The same events through vendor-a resolve to the registered camera.
	ts := strconv.FormatInt(now.Unix(), 10)
	req = httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/vendor-a", bytes.NewReader(body))
	req.Header.Set(camera.HeaderTimestamp, ts)
	req.Header.Set(camera.HeaderSignature, camera.SignatureHeader([]byte(hmacSecret), ts, body))
	w = httptest.NewRecorder()
	c.Handler().ServeHTTP(w, req)
	if w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	e = rec.Events()[2]
	if e.Entity != "cam-gate" || e.Attrs["registered"] != "true" || !e.HasLocation || e.Location[0] != 106.7 {
		t.Errorf("registered event = %+v", e)
	}
	if last, _ := c.cams.LastHeard("cam-gate"); !last.Equal(now) {
		t.Errorf("last heard %v, want %v", last, now)
	}
}

func TestIngestRejects(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		ctype  string
		status int
	}{
		{name: "not json", body: "hello", status: 400},
		{name: "no events", body: `{"events":[]}`, status: 400},
		{name: "missing fields", body: `{"events":[{"label":"person"}]}`, status: 400},
		{name: "bad state", body: `{"events":[{"camera":"c","type":"t","time":"2026-11-23T09:00:00+07:00","state":"maybe"}]}`, status: 400},
		{name: "unknown field", body: `{"events":[{"camera":"c","type":"t","time":"2026-11-23T09:00:00+07:00","colour":"red"}]}`, status: 400},
		{name: "too deep", body: `{"events":[{"camera":"c","type":"t","time":"2026-11-23T09:00:00+07:00","attrs":` + deep(40) + `}]}`, status: 400},
		{name: "too large", body: `{"events":[{"camera":"` + string(bytes.Repeat([]byte("x"), 2<<20)) + `"}]}`, status: 413},
	}
	now := t0
	c, rec, _ := newTestCollector(t, &now)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/vendor-b", bytes.NewReader([]byte(tc.body)))
			req.RemoteAddr = "10.0.0.7:999"
			req.Header.Set("Authorization", "Bearer "+bearerToken)
			w := httptest.NewRecorder()
			c.Handler().ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
	if len(rec.Events()) != 0 {
		t.Errorf("rejected requests emitted %d events", len(rec.Events()))
	}
}

func deep(n int) string {
	return string(bytes.Repeat([]byte("["), n)) + string(bytes.Repeat([]byte("]"), n))
}

func TestCollapseRepeats(t *testing.T) {
	now := t0
	c, rec, _ := newTestCollector(t, &now)
	post := func(label string) {
		body := []byte(`{"events":[{"camera":"gate-1","type":"intrusion","label":"` + label + `","time":"2026-11-23T09:30:00+07:00"}]}`)
		req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/vendor-b", bytes.NewReader(body))
		req.RemoteAddr = "10.0.0.7:999"
		req.Header.Set("Authorization", "Bearer "+bearerToken)
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, req)
		if w.Code != 202 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	for range 5 {
		post("person")
		now = now.Add(time.Second)
	}
	post("car")
	if got := len(rec.Events()); got != 2 {
		t.Fatalf("inside the window: %d events, want 2 (first person, first car)", got)
	}
	now = now.Add(11 * time.Second)
	c.flush(context.Background())
	evs := rec.Events()
	if len(evs) != 3 || evs[2].Values["count"] != 4 || evs[2].Attrs["collapsed"] != "true" {
		t.Fatalf("after the window: %+v", evs)
	}
	total := 0.0
	for _, e := range evs {
		total += e.Values["count"]
	}
	if total != 6 {
		t.Errorf("counts add up to %g, want 6 raw events", total)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := Defaults()
	cfg.Name = ""
	cfg.MaxEvents = 0
	cfg.Sources = []SourceConfig{{Name: "Bad Name", Auth: camera.AuthConfig{Mode: "hmac", Secret: "short"}}, {Name: "ok", Auth: camera.AuthConfig{Mode: "none"}}}
	err := cfg.Validate()
	for _, want := range []string{"name: is required", "max_events", "sources[0] (Bad Name): name", "sources[0] (Bad Name).auth.secret", "sources[1] (ok).auth.allow_cidrs"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, err := os.ReadFile("testdata/events.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"events":[{"camera":"c","type":"t","time":"2026-11-23T09:00:00Z","score":2}]}`))
	f.Add([]byte(deep(50)))
	f.Add([]byte(`{"events":[{"camera":"c\"]]]]","type":"t","time":"2026-11-23T09:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data, 100)
		if err != nil {
			if stream.ReasonOf(err) == "other" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		for _, in := range p.Events {
			if in.Camera == "" || in.Type == "" || in.Time.IsZero() {
				t.Fatalf("accepted an incomplete event %+v", in)
			}
		}
	})
}

func BenchmarkIngestHMAC(b *testing.B) {
	cams, err := camera.NewRegistry(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Defaults()
	cfg.CollapseWindow = 0
	cfg.Sources = []SourceConfig{{Name: "vendor-a", Auth: camera.AuthConfig{Mode: camera.AuthHMAC, Secret: hmacSecret}}}
	c, err := New(cfg, cams, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	c.out.Open(func(context.Context, stream.Batch) error { return nil })
	h := c.Handler()
	body, err := os.ReadFile("testdata/events.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		i++
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		signed := bytes.Replace(body, []byte("evt-20261123-0001"), fmt.Appendf(nil, "evt-%d", i), 1) // unique body: no replay
		req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/camera/vendor-a", bytes.NewReader(signed))
		req.Header.Set(camera.HeaderTimestamp, ts)
		req.Header.Set(camera.HeaderSignature, camera.SignatureHeader([]byte(hmacSecret), ts, signed))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 202 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
