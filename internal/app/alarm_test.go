package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/alarm"
)

// salinityRule is the alarm section the end-to-end tests share: salinity above 4 ‰, cleared at 3.5 ‰.
const salinityRule = `
rules:
  - id: salinity-high
    name: "Xâm nhập mặn vượt 4‰"
    severity: major
    scope: {kinds: [salinity]}
    when: {threshold: {field: salinity, op: ">", value: 4, clear: 3.5}}
`

// TestAlarmEndToEnd: salinity over the threshold raises an alarm that every dashboard sees live; an
// operator acknowledges it over HTTP and every dashboard receives the change; a webhook receives a
// signed notification.
func TestAlarmEndToEnd(t *testing.T) {
	type hook struct {
		body      []byte
		signature bool
	}
	hooks := make(chan hook, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := alarm.VerifySignature("s3cret-hook", r.Header.Get(alarm.HeaderTimestamp), body, r.Header.Get(alarm.HeaderSignature))
		hooks <- hook{body: body, signature: ok}
	}))
	defer receiver.Close()

	cfg := testConfig(t)
	rules := salinityRule + `
notify:
  webhooks:
    - {name: test, url: "` + receiver.URL + `", secret: s3cret-hook, min_severity: minor}
`
	if err := yaml.Unmarshal([]byte(rules), &cfg.Alarm); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg)
	liveA, liveB := dialLive(t, a.HTTP.Addr()), dialLive(t, a.HTTP.Addr())
	pub := publisher(t, a.Broker.URL(), "alarm-pub")
	publish(t, pub, "ioc/devices/sal-ham-luong/telemetry", `{"salinity": 2.1, "lat": 10.12, "lon": 106.45}`)
	publish(t, pub, "ioc/devices/sal-ham-luong/telemetry", `{"salinity": 5.2}`)

	alarmItem := func(lc *liveClient, state string) dashboard.Item {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case f := <-lc.items:
				for _, it := range f.Items {
					if it.Type == "alarm" && it.Attrs["state"] == state && it.Attrs["rule"] == "salinity-high" {
						return it
					}
				}
			case <-timeout:
				t.Fatalf("no alarm in state %s on the live feed", state)
			}
		}
	}
	raised := alarmItem(liveA, "active_unack")
	alarmItem(liveB, "active_unack")
	if raised.Location == nil || *raised.Location != [2]float64{106.45, 10.12} {
		t.Errorf("alarm location %v, want the station's [106.45, 10.12]", raised.Location)
	}

	resp, err := api.Post("http://"+a.HTTP.Addr()+"/api/v1/alarms/"+raised.ID+"/ack", "application/json",
		bytes.NewReader([]byte(`{"note":"Đã báo trạm bơm đóng cống / sluice closed"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ack status %d", resp.StatusCode)
	}
	alarmItem(liveA, "active_ack")
	alarmItem(liveB, "active_ack")

	// The operator on dashboard B clears it over the websocket; both dashboards see the change, and
	// refusals come back as result frames with the reason, the connection staying up.
	result := func(lc *liveClient, ref string) dashboard.Frame {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case f := <-lc.items:
				if f.Type == "result" && f.Ref == ref {
					return f
				}
			case <-timeout:
				t.Fatalf("no result frame %s", ref)
			}
		}
	}
	for _, tc := range []struct {
		ref, frame string
		status     int
	}{
		{ref: "c1", frame: `{"type":"action","ref":"c1","target":"alarm","id":"` + raised.ID + `","action":"clear","note":"Mặn đã giảm / salinity back down"}`, status: 200},
		{ref: "c2", frame: `{"type":"action","ref":"c2","target":"alarm","id":"` + raised.ID + `","action":"clear"}`, status: 409},
		{ref: "c3", frame: `{"type":"action","ref":"c3","target":"alarm","id":"nope","action":"ack"}`, status: 404},
		{ref: "c4", frame: `{"type":"action","ref":"c4","target":"alarm","id":"` + raised.ID + `","action":"explode"}`, status: 404},
		{ref: "c5", frame: `{"type":"action","ref":"c5","target":"report","id":"1","action":"ack"}`, status: 400},
	} {
		if err := liveB.conn.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
			t.Fatal(err)
		}
		if f := result(liveB, tc.ref); f.Status != tc.status {
			t.Errorf("action %s: status %d (%s), want %d", tc.ref, f.Status, f.Message, tc.status)
		}
		if tc.ref == "c1" {
			alarmItem(liveA, "cleared_ack")
		}
	}

	// Over HTTP: assigning a cleared alarm is a conflict; an unknown alarm is 404.
	for path, want := range map[string]int{"/api/v1/alarms/" + raised.ID + "/assign": 409, "/api/v1/alarms/nope/ack": 404} {
		resp, err := api.Post("http://"+a.HTTP.Addr()+path, "application/json", bytes.NewReader([]byte(`{"assignee":"ca-truc"}`)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST %s = %d, want %d", path, resp.StatusCode, want)
		}
	}

	select {
	case h := <-hooks:
		if !h.signature {
			t.Fatalf("webhook signature invalid: %s", h.body)
		}
		var n map[string]any
		if err := json.Unmarshal(h.body, &n); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook notification")
	}
}
