package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// readyz is the body of /readyz.
type readyz struct {
	Status string            `json:"status"`
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// getReadyz calls /readyz with client and returns the status code, the body and its raw keys.
func getReadyz(t *testing.T, client *http.Client, addr string) (int, readyz, map[string]json.RawMessage) {
	t.Helper()
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatalf("GET /readyz: decode: %v", err)
	}
	var r readyz
	b, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	return resp.StatusCode, r, raw
}

// TestReadyzCollectorHealth: with its external broker unreachable at start, ioc logs it and /readyz
// answers 503, naming the collector to an admin and telling an anonymous caller only the status; once
// the broker comes up ioc connects by itself and is ready.
func TestReadyzCollectorHealth(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	m.Stop() // unreachable at start
	cfg := testConfig(t)
	cfg.Broker.Enabled = false
	cfg.Collectors[0].Broker = m.URL
	a := launchApp(t, cfg, Options{AdminFile: "../../configs/admin/83.geojson"})
	addr := a.HTTP.Addr()
	waitFor(t, 10*time.Second, "connect failure counted", func() bool {
		return metricValue(t, a.Gatherer, "ioc_collector_connections_total", map[string]string{"event": "connect_failed"}) >= 1
	})
	code, r, _ := getReadyz(t, api, addr)
	check := r.Checks["collector:telemetry"]
	if code != http.StatusServiceUnavailable || r.Status != "not_ready" || !strings.Contains(check, "not connected") ||
		!strings.Contains(check, "connection refused") {
		t.Fatalf("admin /readyz with the broker down: %d %+v", code, r)
	}
	code, r, raw := getReadyz(t, http.DefaultClient, addr)
	if _, ok := raw["checks"]; code != http.StatusServiceUnavailable || r.Status != "not_ready" || ok {
		t.Fatalf("anonymous /readyz with the broker down: %d %v, want 503 with the status only", code, raw)
	}

	m.Restart(t, syscall.SIGTERM) // after Stop: starts it again on the same port
	waitFor(t, 30*time.Second, "ready once the broker is up", func() bool {
		code, r, _ := getReadyz(t, api, addr)
		return code == http.StatusOK && r.Status == "ready" && r.Checks["collector:telemetry"] == "ok"
	})
}
