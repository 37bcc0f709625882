package alarm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

type received struct {
	n        Notification
	verified bool
}

// webhookReceiver answers failures times with 503, then 200, verifying each signature.
func webhookReceiver(t *testing.T, secret string, failures int32) (*httptest.Server, chan received, *atomic.Int32) {
	got := make(chan received, 10)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= failures {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		got <- received{n, VerifySignature(secret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature))}
	}))
	t.Cleanup(srv.Close)
	return srv, got, &calls
}

func TestWebhookSignedWithRetries(t *testing.T) {
	srv, got, calls := webhookReceiver(t, "s3cret", 2)
	s, id := raiseWithWebhook(t, Webhook{Name: "ops", URL: srv.URL, Secret: "s3cret"}, 3)
	var rc received
	select {
	case rc = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not delivered")
	}
	if !rc.verified || rc.n.Action != ActionRaise || rc.n.Alarm.ID != id || rc.n.Alarm.Source != "sal-1" {
		t.Fatalf("notification %+v verified=%v", rc.n, rc.verified)
	}
	if calls.Load() != 3 {
		t.Fatalf("receiver called %d times, want 3 (two failures, then success)", calls.Load())
	}
	if !VerifySignature("s3cret", "1", []byte("x"), Sign("s3cret", "1", []byte("x"))) || VerifySignature("other", "1", []byte("x"), Sign("s3cret", "1", []byte("x"))) {
		t.Fatal("signature check accepts a wrong secret or refuses the right one")
	}
	waitStatus(t, s, id, "ops=ok")
}

func TestWebhookGivesUpAndMarksAlarm(t *testing.T) {
	srv, _, calls := webhookReceiver(t, "k", 1000)
	s, id := raiseWithWebhook(t, Webhook{Name: "sms", URL: srv.URL, Secret: "k"}, 4)
	waitStatus(t, s, id, "sms=failed: webhook answered 503 Service Unavailable")
	if calls.Load() != 4 {
		t.Fatalf("receiver called %d times, want max_attempts 4", calls.Load())
	}
}

// raiseWithWebhook runs an engine notifying w and raises one salinity alarm.
func raiseWithWebhook(t *testing.T, w Webhook, attempts int) (Store, string) {
	cfg := testConfig(salinityRule)
	cfg.Notify.Webhooks = []Webhook{w}
	cfg.Notify.MaxAttempts = attempts
	s := sqliteStore(t)
	e := newEngine(t, cfg, s, &fakeClock{t: t0})
	r := start(t, e)
	process(t, e, tele("sal-1", "salinity", 0, "salinity", 5))
	return s, r.next(t).Entity
}

// waitStatus polls the alarm's notify_status; delivery runs on its own goroutine.
func waitStatus(t *testing.T, s Store, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := s.Get(context.Background(), id)
		if err == nil && a.NotifyStatus == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify_status %q (err %v), want %q", a.NotifyStatus, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startMosquitto runs /usr/sbin/mosquitto on a free loopback port and returns its URL.
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
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n", port)), 0o600)
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "tcp://" + addr
		}
		if i > 200 {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestMQTTNotification(t *testing.T) {
	broker := startMosquitto(t)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("test-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	msgs := make(chan paho.Message, 10)
	if tok := sub.Subscribe("ioc/alarms/#", 1, func(_ paho.Client, m paho.Message) { msgs <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	cfg := testConfig(salinityRule)
	cfg.Notify.MQTT = &MQTTTarget{Broker: broker, ClientID: "ioc-alarm-test", QoS: 1}
	s := sqliteStore(t)
	e := newEngine(t, cfg, s, &fakeClock{t: t0})
	r := start(t, e)
	process(t, e, tele("sal-1", "salinity", 0, "salinity", 5))
	id := r.next(t).Entity
	select {
	case m := <-msgs:
		if m.Topic() != "ioc/alarms/major/28756" {
			t.Fatalf("topic %s, want ioc/alarms/major/28756 (severity/commune)", m.Topic())
		}
		var n Notification
		if err := json.Unmarshal(m.Payload(), &n); err != nil || n.Alarm.ID != id || n.Action != ActionRaise {
			t.Fatalf("payload %s err %v", m.Payload(), err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no MQTT notification received")
	}
	waitStatus(t, s, id, "mqtt=ok")
	if !strings.HasPrefix(TopicFor("", Alarm{Severity: "minor"}), "ioc/alarms/minor/unknown") {
		t.Fatal("topic without areas")
	}
}
