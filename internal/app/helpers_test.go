package app

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ioc-vn/ioc/internal/waittest"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/app/apptest"
	"github.com/ioc-vn/ioc/internal/config"
)

// testConfig is the default config on free loopback ports with a temporary store.
func testConfig(t testing.TB) config.Config { return apptest.Config(t, filepath.Join("..", "..")) }

// The first admin of test configs: tests call the API with its token (api, authHeader) or sign in.
const (
	testPassword = apptest.Password
	testToken    = apptest.Token
)

// authHeader carries the test admin's token.
func authHeader() http.Header { return http.Header{"Authorization": {"Bearer " + testToken}} }

// api is an HTTP client that calls as the test admin.
var api = &http.Client{Transport: bearer{}}

type bearer struct{}

func (bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+testToken)
	return http.DefaultTransport.RoundTrip(r)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IOC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startApp runs ioc in-process until the test ends.
func startApp(t testing.TB, cfg config.Config) *App {
	t.Helper()
	return startAppWith(t, cfg, Options{AdminFile: filepath.Join("..", "..", "configs", "admin", "83.geojson")})
}

// startAppWith is startApp with run-time options (web pages).
func startAppWith(t testing.TB, cfg config.Config, opts Options) *App {
	t.Helper()
	a := launchApp(t, cfg, opts)
	waitFor(t, 10*time.Second, "collectors receiving", func() bool { // subscribed: a message published now is delivered
		return metricValue(t, a.Gatherer, "ioc_collector_receiving", nil) >= float64(len(cfg.Collectors))
	})
	return a
}

// launchApp runs ioc in-process until the test ends, without waiting for its collectors.
func launchApp(t testing.TB, cfg config.Config, opts Options) *App {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := Start(ctx, cfg, testLogger(t), opts)
	if err != nil {
		cancel()
		t.Fatalf("start ioc: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := a.Wait(); err != nil {
			t.Errorf("ioc stopped with: %v", err)
		}
	})
	return a
}

// publisher connects a paho client to url.
func publisher(t testing.TB, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetWriteTimeout(30 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t testing.TB, c paho.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// liveClient is a websocket client of /api/v1/live that keeps the latest item per entity.
type liveClient struct {
	conn  *websocket.Conn
	items chan dashboard.Frame
}

func dialLive(t testing.TB, addr string) *liveClient {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/v1/live", authHeader())
	if err != nil {
		t.Fatalf("dial live: %v (%v)", err, resp)
	}
	lc := &liveClient{conn: conn, items: make(chan dashboard.Frame, 1024)}
	go func() {
		defer close(lc.items)
		for {
			var f dashboard.Frame
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			lc.items <- f
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return lc
}

// waitItem reads frames until one carries entity id with field == value.
func (lc *liveClient) waitItem(t testing.TB, id, field string, value float64) dashboard.Item {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-lc.items:
			if !ok {
				t.Fatalf("live connection closed while waiting for %s", id)
			}
			for _, it := range f.Items {
				if it.ID == id && it.Values[field] == value {
					return it
				}
			}
		case <-timeout:
			t.Fatalf("no live item %s with %s=%v within 10s", id, field, value)
		}
	}
}

func getJSON(t testing.TB, u string, v any) int {
	t.Helper()
	resp, err := api.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
	return resp.StatusCode
}

type readingsResp struct {
	Samples []struct {
		TS    string  `json:"ts"`
		Value float64 `json:"value"`
	} `json:"samples"`
}

func readings(t testing.TB, addr, device, field string, from, to time.Time) readingsResp {
	t.Helper()
	q := url.Values{"device": {device}, "field": {field}, "from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	var r readingsResp
	if code := getJSON(t, "http://"+addr+"/api/v1/readings?"+q.Encode(), &r); code != 200 {
		t.Fatalf("readings %s/%s: status %d", device, field, code)
	}
	return r
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waittest.For(t, d, what, cond)
}

// metricValue sums a metric's samples whose labels include want.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		hist := ""
		switch mf.GetName() {
		case name:
		case strings.TrimSuffix(name, "_sum"):
			hist = "sum"
		case strings.TrimSuffix(name, "_count"):
			hist = "count"
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case hist == "sum" && m.Histogram != nil:
				sum += m.Histogram.GetSampleSum()
			case hist == "count" && m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			found = found || (lp.GetName() == k && lp.GetValue() == v)
		}
		if !found {
			return false
		}
	}
	return true
}

func ms(t time.Time) string { return fmt.Sprint(t.UnixMilli()) }

func short(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return strings.TrimSpace(s)
}

// dumpMetrics logs the main counters (shown when a test fails or with -v).
func dumpMetrics(t *testing.T, a *App) {
	for _, n := range []string{"ioc_sink_batch_events_sum", "ioc_collector_messages_total", "ioc_broker_messages_dropped_total", "ioc_broker_publishes_held_total", "ioc_pipeline_events_accepted_total", "ioc_collector_connections_total", "ioc_pipeline_events_rejected_total"} {
		t.Logf("%s = %v", n, metricValue(t, a.Gatherer, n, nil))
	}
}
