package dashboard

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/registry"
)

func TestPageRoutes(t *testing.T) {
	built := fstest.MapFS{
		"index.html":  {Data: []byte("<title>map</title>")},
		"report.html": {Data: []byte("<title>report</title>")},
		"track.html":  {Data: []byte("<title>track</title>")},
		"kpi.html":    {Data: []byte("<title>kpi</title>")},
	}
	fallback := fstest.MapFS{"index.html": {Data: []byte("<title>fallback</title>")}}
	for _, tc := range []struct {
		name     string
		web      fstest.MapFS
		path     string
		wantCode int
		wantBody string
	}{
		{"map", built, "/", 200, "<title>map</title>"},
		{"citizen page", built, "/report", 200, "<title>report</title>"},
		{"tracking page", built, "/track/BT-ABC123", 200, "<title>track</title>"},
		{"kpi screen", built, "/kpi", 200, "<title>kpi</title>"},
		{"ui config", built, "/api/v1/ui/config", 200, `"tile_url":"https://tiles.ioc.local/{z}/{x}/{y}.png"`},
		{"fallback map", fallback, "/", 200, "<title>fallback</title>"},
		{"fallback has no citizen page", fallback, "/report", 404, "make build"},
		{"post to a page", built, "/report", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer("127.0.0.1:0", slog.New(slog.DiscardHandler), Deps{Registry: registry.New(true, nil),
				Gatherer: prometheus.NewRegistry(), Web: tc.web, UI: UIConfig{TileURL: "https://tiles.ioc.local/{z}/{x}/{y}.png"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.ln.Close()
			method := http.MethodGet
			if tc.wantCode == 405 {
				method = http.MethodPost
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(method, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", method, tc.path, rec.Code, body, tc.wantCode, tc.wantBody)
			}
			if rec.Code >= 400 && !json.Valid(body) {
				t.Errorf("error body is not the JSON envelope: %s", body)
			}
		})
	}
}

func TestWebFallsBackUntilBuilt(t *testing.T) {
	index, err := Web().Open("index.html")
	if err != nil {
		t.Fatalf("no index.html embedded: %v", err)
	}
	defer index.Close()
	body, _ := io.ReadAll(index)
	isFallback := strings.Contains(string(body), "live.js")
	if Built() == isFallback {
		t.Errorf("Built() = %v but index.html is the fallback: %v", Built(), isFallback)
	}
}
