package app

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// formatCases publish one reading in each telemetry format and say where it must show up.
func formatCases(ts time.Time) []struct {
	name, topic, payload, device, field string
	value                               float64
	location                            [2]float64
} {
	return []struct {
		name, topic, payload, device, field string
		value                               float64
		location                            [2]float64
	}{
		{"thingsboard", "ioc/devices/sal-ba-lai-1/telemetry",
			`{"ts":` + ms(ts) + `,"values":{"salinity":4.7,"lat":10.171,"lon":106.553}}`, "sal-ba-lai-1", "salinity", 4.7, [2]float64{106.553, 10.171}},
		{"thingsboard_gateway", "v1/gateway/telemetry",
			`{"trf-dong-khoi":[{"ts":` + ms(ts) + `,"values":{"vehicles":42,"lat":10.2415,"lon":106.3759}}]}`, "trf-dong-khoi", "vehicles", 42, [2]float64{106.3759, 10.2415}},
		{"senml", "ioc/senml/rain-ba-tri",
			`[{"bn":"rain-ba-tri:","bt":` + fmt.Sprint(ts.Unix()) + `,"n":"rain_mm","u":"mm","v":12.5},{"n":"lon","v":106.59},{"n":"lat","v":10.04}]`,
			"rain-ba-tri", "rain_mm", 12.5, [2]float64{106.59, 10.04}},
	}
}

// checkFormats publishes every format through pub and checks the websocket and the readings API.
func checkFormats(t *testing.T, a *App, brokerURL string) {
	live := dialLive(t, a.HTTP.Addr())
	pub := publisher(t, brokerURL, "test-publisher")
	ts := time.Now().Add(-time.Second).Truncate(time.Second)
	for _, tc := range formatCases(ts) {
		t.Run(tc.name, func(t *testing.T) {
			publish(t, pub, tc.topic, tc.payload)
			it := live.waitItem(t, tc.device, tc.field, tc.value)
			if it.Location == nil || *it.Location != tc.location {
				t.Errorf("live location = %v, want %v", it.Location, tc.location)
			}
			got, err := time.Parse(time.RFC3339Nano, it.TS)
			if err != nil || !got.Equal(ts) || !strings.HasSuffix(it.TS, "+07:00") {
				t.Errorf("live ts = %q, want %s in +07:00", it.TS, ts)
			}
			var r readingsResp
			waitFor(t, 5*time.Second, "reading stored", func() bool {
				r = readings(t, a.HTTP.Addr(), tc.device, tc.field, ts.Add(-time.Minute), ts.Add(time.Minute))
				return len(r.Samples) > 0
			})
			if len(r.Samples) != 1 || r.Samples[0].Value != tc.value {
				t.Fatalf("readings = %+v, want one sample %v", r.Samples, tc.value)
			}
		})
	}
}

func TestFormatsThroughEmbeddedBroker(t *testing.T) {
	a := startApp(t, testConfig(t))
	checkFormats(t, a, a.Broker.URL())
}

func TestFormatsThroughMosquitto(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	cfg := testConfig(t)
	cfg.Broker.Enabled = false
	cfg.Collectors[0].Broker = m.URL
	a := startApp(t, cfg)
	checkFormats(t, a, m.URL)
}

// TestBadInputIsCountedAndValidKept sends every kind of bad input; each is counted by reason and the
// valid entries of a mixed batch, and the messages after, still arrive.
func TestBadInputIsCountedAndValidKept(t *testing.T) {
	cfg := testConfig(t)
	cfg.Collectors[0].MaxPayload = 1024
	a := startApp(t, cfg)
	pub := publisher(t, a.Broker.URL(), "bad-publisher")
	now := time.Now()
	bad := []struct{ topic, payload, stage, reason string }{
		{"ioc/devices/x1/telemetry", `{"pm25": 1`, "collector", "malformed"},
		{"ioc/devices/x2/telemetry", `{"pm25": [1]}`, "collector", "wrong_type"},
		{"ioc/devices/x3/telemetry", `{"pm25": 1e999}`, "collector", "not_finite"},
		{"ioc/devices/x4/telemetry", `{"pm25": 1, "lat": 95, "lon": 106}`, "collector", "bad_location"},
		{"ioc/devices/x5/telemetry", `{"pm25": 1, "pad": "` + strings.Repeat("x", 2000) + `"}`, "collector", "too_large"},
		{"ioc/devices/x6/telemetry", `{"ts":` + ms(now.Add(48*time.Hour)) + `,"values":{"pm25":1}}`, "pipeline", "time_future"},
		{"ioc/devices/x7/telemetry", `{"ts":` + ms(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)) + `,"values":{"pm25":1}}`, "pipeline", "time_too_old"},
	}
	for _, b := range bad {
		publish(t, pub, b.topic, b.payload)
	}
	// A mixed array: the valid entry is kept.
	publish(t, pub, "ioc/devices/aq-mixed/telemetry", `[{"ts":"x","values":{"pm25":1}},{"ts":`+ms(now)+`,"values":{"pm25":77}}]`)
	live := dialLive(t, a.HTTP.Addr())
	live.waitItem(t, "aq-mixed", "pm25", 77)
	for _, b := range bad {
		metric, labels := "ioc_collector_decode_errors_total", map[string]string{"reason": b.reason}
		if b.stage == "pipeline" {
			metric = "ioc_pipeline_events_rejected_total"
		}
		waitFor(t, 5*time.Second, b.reason+" counted", func() bool { return metricValue(t, a.Gatherer, metric, labels) >= 1 })
	}
	if got := metricValue(t, a.Gatherer, "ioc_collector_decode_errors_total", map[string]string{"reason": "wrong_type"}); got != 2 {
		t.Errorf("wrong_type rejections = %v, want 2 (the nested value and the mixed batch's bad ts)", got)
	}
	for _, id := range []string{"x1", "x2", "x3", "x4", "x5", "x6", "x7"} {
		resp, err := api.Get("http://" + a.HTTP.Addr() + "/api/v1/devices/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("device %s from a rejected message exists (status %d)", id, resp.StatusCode)
		}
	}
	publish(t, pub, "ioc/devices/aq-after/telemetry", `{"pm25": 5}`)
	live.waitItem(t, "aq-after", "pm25", 5)
}

// TestBurstLosesNothing publishes a burst far above what the store sustains through the embedded
// broker, from several connections at once at QoS 1: every message must be stored and the broker must
// drop none (it slows the publishers instead).
func TestBurstLosesNothing(t *testing.T) {
	cfg := testConfig(t)
	cfg.Broker.MaxInflight = 256 // a small window so the burst overruns it many times over
	a := startApp(t, cfg)
	const publishers, perPublisher = 4, 10000
	start := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pub := publisher(t, a.Broker.URL(), fmt.Sprintf("burst-%d", p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks := make([]interface{ Wait() bool }, 0, perPublisher)
			for i := 0; i < perPublisher; i++ {
				payload := fmt.Sprintf(`{"ts":%d,"values":{"v":%d}}`, start.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i)
				toks = append(toks, pub.Publish(fmt.Sprintf("ioc/devices/burst-%d/telemetry", p), 1, false, payload))
			}
			for _, tok := range toks {
				tok.Wait()
			}
		}()
	}
	wg.Wait()
	total := float64(publishers * perPublisher)
	defer dumpMetrics(t, a)
	waitFor(t, 30*time.Second, "every burst message stored", func() bool {
		return metricValue(t, a.Gatherer, "ioc_sink_batch_events_sum", map[string]string{"sink": "store"}) >= total
	})
	for p := 0; p < publishers; p++ {
		r := readings(t, a.HTTP.Addr(), fmt.Sprintf("burst-%d", p), "v", start, start.Add(time.Hour))
		if len(r.Samples) != perPublisher {
			t.Errorf("burst-%d: %d readings stored, want %d", p, len(r.Samples), perPublisher)
		}
	}
	if d := metricValue(t, a.Gatherer, "ioc_broker_messages_dropped_total", nil); d != 0 {
		t.Errorf("broker dropped %v messages", d)
	}
	if held := metricValue(t, a.Gatherer, "ioc_broker_publishes_held_total", nil); held == 0 {
		t.Errorf("the burst never filled the window (no publish held): it did not test overload")
	}
}

func TestPortInUseNamesTheKey(t *testing.T) {
	first := startApp(t, testConfig(t))
	cfg := testConfig(t)
	cfg.HTTP.Addr = first.HTTP.Addr()
	_, err := Start(t.Context(), cfg, testLogger(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "http.addr") || !strings.Contains(err.Error(), "IOC_HTTP_ADDR") {
		t.Fatalf("http port clash error = %v, want it to name http.addr", err)
	}
	cfg = testConfig(t)
	cfg.Broker.Listen = first.Broker.Addr()
	_, err = Start(t.Context(), cfg, testLogger(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "broker.listen") {
		t.Fatalf("broker port clash error = %v, want it to name broker.listen", err)
	}
}

func TestStartRejectsInvalidConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Collectors[0].QoS = 7
	cfg.HTTP.Addr = ""
	_, err := Start(t.Context(), cfg, testLogger(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "qos") || !strings.Contains(err.Error(), "http.addr") {
		t.Fatalf("error = %v, want every problem listed", err)
	}
}

func TestHTTPListensOnIPv4AndIPv6(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.Addr = ":0"
	a := startApp(t, cfg)
	_, port, _ := strings.Cut(a.HTTP.Addr(), "]:")
	if port == "" {
		t.Fatalf("unexpected listen address %s", a.HTTP.Addr())
	}
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		var body map[string]string
		if code := getJSON(t, "http://"+host+":"+port+"/healthz", &body); code != 200 || body["status"] != "ok" {
			t.Errorf("%s: status %d body %v", host, code, body)
		}
	}
}

func TestLiveRefusesForeignOrigins(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.AllowedOrigins = []string{"https://ioc.bentre.example"}
	a := startApp(t, cfg)
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://" + a.HTTP.Addr(), true},
		{"https://ioc.bentre.example", true},
		{"https://evil.example", false},
	} {
		h := authHeader()
		h.Set("Origin", tc.origin)
		conn, resp, err := websocket.DefaultDialer.Dial("ws://"+a.HTTP.Addr()+"/api/v1/live", h)
		if tc.ok {
			if err != nil {
				t.Errorf("origin %s refused: %v", tc.origin, err)
				continue
			}
			var f dashboard.Frame
			if err := conn.ReadJSON(&f); err != nil || f.Type != "snapshot" {
				t.Errorf("origin %s: first frame %+v, %v", tc.origin, f, err)
			}
			conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Errorf("origin %s accepted", tc.origin)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: %v, want 403", tc.origin, err)
		}
	}
}

func TestLiveErrorFrameKeepsConnection(t *testing.T) {
	a := startApp(t, testConfig(t))
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+a.HTTP.Addr()+"/api/v1/live", authHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var f dashboard.Frame
	if err := conn.ReadJSON(&f); err != nil || f.Type != "snapshot" {
		t.Fatalf("first frame %+v %v", f, err)
	}
	for _, bad := range []string{`{not json`, `{"type":"dance"}`} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if err := conn.ReadJSON(&f); err != nil || f.Type != "error" || f.Message == "" {
			t.Fatalf("after %s: frame %+v %v, want an error frame", bad, f, err)
		}
	}
	pub := publisher(t, a.Broker.URL(), "after-error")
	publish(t, pub, "ioc/devices/still-alive/telemetry", `{"pm25": 9}`)
	for {
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("connection dropped after error frames: %v", err)
		}
		if len(f.Items) > 0 && f.Items[0].ID == "still-alive" {
			break
		}
	}
}
