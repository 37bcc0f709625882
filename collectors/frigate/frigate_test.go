package frigate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/camera/cameratest"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// startMosquitto runs a private broker on a free loopback port and returns its URL.
func startMosquitto(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n", port), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "tcp://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRegistry(t *testing.T) *camera.Registry {
	t.Helper()
	cams, err := camera.NewRegistry([]camera.Config{{ID: "cam-le-loi", Name: "Ngã tư Lê Lợi", Location: [2]float64{106.7009, 10.7769},
		Source: camera.SourceConfig{Kind: camera.KindFrigate, Name: "nga_tu_le_loi"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cams
}

func TestFrigateThroughMosquitto(t *testing.T) {
	broker := startMosquitto(t)
	cfg := Defaults()
	cfg.Broker = broker
	cfg.ClientID = "ioc-frigate-test"
	cfg.BaseURL = "http://frigate.local:5000/"
	reg := prometheus.NewRegistry()
	c, err := New(cfg, testRegistry(t), slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := cameratest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec.Emit) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	defer stop()

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("frigate-test-publisher"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	// Wait until the collector's subscription is in place: publish a probe on the reviews topic until it arrives.
	probe := fixture(t, "review_new.json")
	for i := 0; ; i++ {
		if err := (PahoPublisher{pub}).Publish(ctx, "frigate/reviews", probe); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rec.Signal():
		case <-time.After(200 * time.Millisecond):
			if i > 50 {
				t.Fatal("collector never received the probe")
			}
			continue
		}
		break
	}
	probeEvents := len(rec.Events())
	review := rec.Events()[0]
	if review.Entity != "frigate:cong_ubnd" || review.Attrs["registered"] != "false" || review.Attrs["severity"] != "alert" ||
		review.Attrs["label"] != "person,car" || review.Values["detections"] != 2 || review.Attrs["event_type"] != "review_new" {
		t.Errorf("review event = %+v", review)
	}

	for _, name := range []string{"event_new.json", "event_update.json", "event_end.json"} {
		if err := (PahoPublisher{pub}).Publish(ctx, "frigate/events", fixture(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	evs := rec.Wait(t, probeEvents+3, 10*time.Second)[probeEvents:]
	start := time.Unix(1763865000, 125000000)
	tests := []struct {
		name  string
		ev    stream.Event
		typ   string
		state string
		time  time.Time
		check func(t *testing.T, ev stream.Event)
	}{
		{name: "new", ev: evs[0], typ: "new", state: "active", time: start, check: func(t *testing.T, ev stream.Event) {
			if ev.Values["score"] != 0.71 || ev.Attrs["snapshot_url"] != "" || ev.Attrs["sub_label"] != "" {
				t.Errorf("new = %+v", ev)
			}
		}},
		{name: "update", ev: evs[1], typ: "update", state: "active", time: time.Unix(1763865004, 500000000), check: func(t *testing.T, ev stream.Event) {
			if ev.Values["top_score"] != 0.88 || ev.Attrs["sub_label"] != "51F-123.45" || ev.Values["sub_label_score"] != 0.93 ||
				ev.Attrs["zones"] != "lòng_đường" || ev.Attrs["entered_zones"] != "vỉa_hè,lòng_đường" || ev.Attrs["zones_entered_now"] != "vỉa_hè,lòng_đường" ||
				ev.Attrs["snapshot_url"] != "http://frigate.local:5000/api/events/1763865000.125000-ab12cd/snapshot.jpg" {
				t.Errorf("update = %+v", ev)
			}
		}},
		{name: "end", ev: evs[2], typ: "end", state: "ended", time: time.Unix(1763865012, 625000000), check: func(t *testing.T, ev stream.Event) {
			if ev.Values["duration_s"] != 12.5 || ev.Attrs["zones"] != "" {
				t.Errorf("end = %+v", ev)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			if ev.Type != stream.TypeCamera || ev.Kind != "camera" || ev.Entity != "cam-le-loi" || ev.Source != "frigate" ||
				!ev.HasLocation || ev.Location[0] != 106.7009 || ev.Location[1] != 10.7769 || ev.Attrs["registered"] != "true" {
				t.Errorf("identity = %+v", ev)
			}
			if ev.Attrs["event_type"] != tc.typ || ev.Attrs["state"] != tc.state || ev.Attrs["label"] != "motorcycle" ||
				ev.Attrs["event_id"] != "1763865000.125000-ab12cd" || ev.Values["count"] != 1 {
				t.Errorf("attrs = %+v", ev.Attrs)
			}
			if d := ev.Time.Sub(tc.time); d > time.Microsecond || d < -time.Microsecond {
				t.Errorf("time %v, want %v", ev.Time, tc.time)
			}
			if err := stream.Validate(&ev, time.Now(), stream.Limits{MaxFuture: time.Minute}); err != nil {
				t.Errorf("event does not validate: %v", err)
			}
			tc.check(t, ev)
		})
	}
	if c.Open() != 0 {
		t.Errorf("%d events still open after end", c.Open())
	}
	stop() // Run has returned: every handled message is counted
	if got := testutil.ToFloat64(c.m.Emitted); got != 4 {
		t.Errorf("emitted metric %g, want 4", got)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		reason  string
	}{
		{name: "not json", payload: "{", reason: stream.ReasonMalformed},
		{name: "bad type", payload: `{"type":"moved","after":{"id":"1","camera":"c","start_time":1}}`, reason: stream.ReasonMalformed},
		{name: "no after", payload: `{"type":"new"}`, reason: stream.ReasonNoEntity},
		{name: "no camera", payload: `{"type":"new","after":{"id":"1","start_time":1}}`, reason: stream.ReasonNoEntity},
		{name: "no start", payload: `{"type":"new","after":{"id":"1","camera":"c"}}`, reason: stream.ReasonMalformed},
		{name: "deep", payload: `{"type":"new","after":{"box":` + string(make([]byte, 0)) + deep(40) + `}}`, reason: camera.ReasonTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tc.payload))
			if got := stream.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

func deep(n int) string {
	b := make([]byte, 0, 2*n)
	for range n {
		b = append(b, '[')
	}
	for range n {
		b = append(b, ']')
	}
	return string(b)
}

func TestSimulatorSequences(t *testing.T) {
	s := NewSimulator("frigate", 30, 7)
	cams := testRegistry(t)
	c, err := New(func() Config { c := Defaults(); c.Broker = "tcp://127.0.0.1:1"; return c }(), cams, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	phase := map[string]string{} // event id → last type seen
	labels := map[string]bool{}
	counts := map[string]int{}
	for i := 0; i < 200; i++ {
		for _, m := range s.Step(now) {
			var ack bool
			var got []stream.Event
			emit := func(_ context.Context, b stream.Batch) error { got = append(got, b.Events...); b.Done(); return nil }
			c.handle(context.Background(), emit, m.Topic, m.Payload, func() { ack = true })
			if !ack || len(got) != 1 {
				t.Fatalf("message %s not decoded into one acknowledged event: %s", m.Topic, m.Payload)
			}
			if m.Topic != "frigate/events" {
				continue
			}
			ev := got[0]
			id, typ := ev.Attrs["event_id"], ev.Attrs["event_type"]
			switch prev := phase[id]; {
			case typ == TypeNew && prev != "":
				t.Fatalf("%s: new after %s", id, prev)
			case typ != TypeNew && (prev == "" || prev == TypeEnd):
				t.Fatalf("%s: %s after %q", id, typ, prev)
			}
			phase[id] = typ
			labels[ev.Attrs["label"]] = true
			counts[typ]++
		}
		now = now.Add(time.Second)
	}
	for _, l := range []string{"person", "car", "motorcycle", "bicycle"} {
		if !labels[l] {
			t.Errorf("label %s never simulated", l)
		}
	}
	if counts[TypeNew] < 100 || counts[TypeUpdate] < counts[TypeNew] || counts[TypeEnd] < counts[TypeNew]-len(s.open) {
		t.Errorf("sequence counts %v", counts)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, name := range []string{"event_new.json", "event_update.json", "event_end.json", "review_new.json"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"type":"new","after":{"id":"x","camera":"c","start_time":1,"sub_label":[1,"a"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := DecodeEvent(data); err == nil {
			if m.After == nil || m.After.ID == "" || m.After.Camera == "" {
				t.Fatalf("accepted %+v", m)
			}
			subLabel(m.After.SubLabel)
		} else if stream.ReasonOf(err) == "other" {
			t.Fatalf("error without a reason: %v", err)
		}
		if _, err := DecodeReview(data); err != nil && stream.ReasonOf(err) == "other" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}

func BenchmarkObjectEvent(b *testing.B) {
	cams, err := camera.NewRegistry(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Defaults()
	cfg.Broker = "tcp://127.0.0.1:1"
	cfg.BaseURL = "http://frigate.local:5000"
	c, err := New(cfg, cams, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	payload := fixture(b, "event_update.json")
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := c.objectEvent(payload); err != nil {
			b.Fatal(err)
		}
	}
}
