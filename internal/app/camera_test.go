package app

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/collectors/onvif"
	"github.com/ioc-vn/ioc/collectors/onvif/onviftest"
	"github.com/ioc-vn/ioc/collectors/webhook"
	"github.com/ioc-vn/ioc/dashboard"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// TestCameraEventsEndToEnd: a Frigate event published through a real Mosquitto, a Hikvision ISAPI alarm
// pushed as multipart over HTTP, an ONVIF event pulled from a PullPoint device and a signed webhook event
// each show up on /api/v1/live at the camera's registered place and in GET /api/v1/events.
func TestCameraEventsEndToEnd(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	cfg := testConfig(t)
	cfg.Broker.Enabled = false
	cfg.Collectors[0].Broker = m.URL
	cfg.Frigate.Enabled, cfg.Frigate.Broker = true, m.URL
	cfg.Hikvision.Enabled = true
	cfg.Hikvision.Auth = camera.AuthConfig{Mode: "none", AllowCIDRs: []string{"127.0.0.1/32"}}
	onvifScript, err := os.ReadFile("../../collectors/onvif/testdata/notifications_1.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, device := onviftest.Start(t, [][]string{{string(onvifScript)}})
	deviceURL := device.URL + "/onvif/device_service"
	cfg.ONVIF.Enabled = true
	cfg.ONVIF.Devices = []onvif.DeviceConfig{{URL: deviceURL, Username: onviftest.User, Password: onviftest.Password}}
	const webhookSecret = "khóa-bí-mật-webhook-2026"
	cfg.Webhook.Enabled = true
	cfg.Webhook.Sources = []webhook.SourceConfig{{Name: "vendor-a", Auth: camera.AuthConfig{Mode: camera.AuthHMAC, Secret: webhookSecret}}}
	leLoi, hik := [2]float64{106.3778, 10.2401}, [2]float64{106.3702, 10.2365}
	boKe, gate := [2]float64{106.3810, 10.2290}, [2]float64{106.3655, 10.2420}
	cfg.Cameras = []camera.Config{
		{ID: "cam-le-loi", Name: "Ngã tư Lê Lợi", Location: leLoi, FOV: 90, Source: camera.SourceConfig{Kind: "frigate", Name: "nga_tu_le_loi"}},
		{ID: "cam-cong-vien", Name: "Công viên Đồng Khởi", Location: hik, FOV: 90,
			Source: camera.SourceConfig{Kind: "hikvision", MAC: "bc:ad:28:44:55:66", Channel: 1}},
		{ID: "cam-bo-ke", Name: "Bờ kè sông Bến Tre", Location: boKe, FOV: 90, Source: camera.SourceConfig{Kind: camera.KindONVIF, URL: deviceURL}},
		{ID: "cam-gate", Name: "Cổng chính", Location: gate, FOV: 90,
			Source: camera.SourceConfig{Kind: camera.KindWebhook, Webhook: "vendor-a", Name: "gate-1"}},
	}
	a := startApp(t, cfg)
	live := dialLive(t, a.HTTP.Addr())

	frigateEvent, err := os.ReadFile("../../collectors/frigate/testdata/event_new.json")
	if err != nil {
		t.Fatal(err)
	}
	pub := publisher(t, m.URL, "frigate-sim")
	publish(t, pub, "frigate/events", string(frigateEvent))

	isapi, err := os.ReadFile("../../collectors/hikvision/testdata/linedetection.xml")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="linedetection"`}, "Content-Type": {"application/xml"}})
	part.Write(isapi)
	pic, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="linedetectionImage"; filename="p.jpg"`}, "Content-Type": {"image/jpeg"}})
	pic.Write([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 0xff, 0xd9})
	mw.Close()
	resp, err := http.Post("http://"+a.HTTP.Addr()+"/api/v1/ingest/hikvision", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ISAPI push: %d %s", resp.StatusCode, b)
	}

	events := fmt.Sprintf(`{"events":[{"camera":"gate-1","event_id":"e2e-1","time":%q,"type":"intrusion","label":"person","state":"active","score":0.9}]}`,
		time.Now().Add(-time.Second).Format(time.RFC3339))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	postWebhook(t, a.HTTP.Addr(), events, map[string]string{camera.HeaderTimestamp: ts,
		camera.HeaderSignature: camera.SignatureHeader([]byte(webhookSecret), ts, []byte(events))})

	want := map[string][2]float64{"cam-le-loi": leLoi, "cam-cong-vien": hik, "cam-bo-ke": boKe, "cam-gate": gate}
	seen := map[string]dashboard.Item{}
	timeout := time.After(10 * time.Second)
	for len(seen) < len(want) {
		select {
		case f := <-live.items:
			for _, it := range f.Items {
				// The ONVIF device is pulled from as soon as ioc starts, so its event may already be in
				// the snapshot; the others are sent after the client connected.
				if _, ok := want[it.ID]; ok && it.Attrs["label"] != "" {
					seen[it.ID] = it
				}
			}
		case <-timeout:
			t.Fatalf("camera events on the live feed: got %v, want all four cameras", seen)
		}
	}
	for id, it := range seen {
		if it.Location == nil || *it.Location != want[id] || it.Type != "camera" {
			t.Errorf("%s: type %s location %v, want camera at %v", id, it.Type, it.Location, want[id])
		}
	}
	if got := seen["cam-le-loi"].Attrs["label"]; got != "motorcycle" {
		t.Errorf("frigate label %q, want motorcycle", got)
	}
	if got := seen["cam-gate"].Attrs["label"]; got != "person" {
		t.Errorf("webhook label %q, want person", got)
	}
	for _, q := range []url.Values{{"camera": {"cam-le-loi"}, "label": {"motorcycle"}}, {"camera": {"cam-cong-vien"}},
		{"camera": {"cam-bo-ke"}, "label": {"intrusion"}}, {"camera": {"cam-gate"}, "label": {"person"}}} {
		q.Set("from", time.Now().Add(-400*24*time.Hour).Format(time.RFC3339))
		var out struct {
			Count  int              `json:"count"`
			Events []dashboard.Item `json:"events"`
		}
		waitFor(t, 5*time.Second, "camera event stored: "+q.Encode(), func() bool {
			getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/events?"+q.Encode(), &out)
			return out.Count > 0
		})
		if ev := out.Events[0]; ev.Location == nil || *ev.Location != want[q.Get("camera")] {
			t.Errorf("%s: stored event location %v", q.Get("camera"), ev.Location)
		}
	}
}

// TestCameraLivenessAndAdmin: a camera added through the admin API becomes a map entity at its place; a
// camera that stays silent is shown offline on the live map, and online again once it is heard.
func TestCameraLivenessAndAdmin(t *testing.T) {
	cfg := testConfig(t)
	cfg.Webhook.Enabled = true
	const secret = "khóa-bí-mật-webhook-2026"
	cfg.Webhook.Sources = []webhook.SourceConfig{{Name: "vendor-a", Auth: camera.AuthConfig{Mode: camera.AuthBearer, Secret: secret}}}
	cfg.Liveness.OfflineAfter, cfg.Liveness.CheckEvery = time.Second, 100*time.Millisecond
	a := startApp(t, cfg)
	live := dialLive(t, a.HTTP.Addr())

	cam := `{"id":"cam-cho","name":"Chợ Bến Tre","location":[106.3755,10.2398],"fov":90,"source":{"kind":"webhook","webhook":"vendor-a","name":"cho"}}`
	resp, err := api.Post("http://"+a.HTTP.Addr()+"/api/v1/cameras", "application/json", strings.NewReader(cam))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add camera: %d %s", resp.StatusCode, b)
	}
	if e, ok := a.Registry.Get("cam-cho"); !ok || !e.HasLocation || e.Location[0] != 106.3755 || e.Kind != "camera" {
		t.Fatalf("added camera is not a map entity at its place: %+v", e)
	}
	liveness := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case f := <-live.items:
				for _, it := range f.Items {
					if it.ID == "cam-cho" && it.Attrs["liveness"] == want {
						if it.Location == nil || *it.Location != [2]float64{106.3755, 10.2398} {
							t.Fatalf("liveness item without the camera's place: %+v", it)
						}
						return
					}
				}
			case <-timeout:
				t.Fatalf("cam-cho never shown %s on the live map", want)
			}
		}
	}
	liveness(camera.LivenessOffline)

	events := fmt.Sprintf(`{"events":[{"camera":"cho","event_id":"l-1","time":%q,"type":"motion","label":"person","state":"active"}]}`,
		time.Now().Format(time.RFC3339))
	postWebhook(t, a.HTTP.Addr(), events, map[string]string{"Authorization": "Bearer " + secret})
	liveness(camera.LivenessOnline)

	var list struct {
		Cameras []camera.Status `json:"cameras"`
	}
	getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/cameras", &list)
	if len(list.Cameras) != 1 || list.Cameras[0].Origin != "admin" || list.Cameras[0].LastHeard == nil {
		t.Fatalf("camera list: %+v", list.Cameras)
	}
}

// postWebhook posts events to the generic camera webhook of source vendor-a and expects 202.
func postWebhook(t *testing.T, addr, events string, header map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/ingest/camera/vendor-a", strings.NewReader(events))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook push: %d %s", resp.StatusCode, b)
	}
}
