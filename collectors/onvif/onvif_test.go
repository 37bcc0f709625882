package onvif

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/collectors/onvif/onviftest"
	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/camera/cameratest"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newCollector(t *testing.T, devices []DeviceConfig, cams []camera.Config) *Collector {
	t.Helper()
	reg, err := camera.NewRegistry(cams, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	cfg.Devices = devices
	cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.PullTimeout = time.Second
	c, err := New(cfg, reg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPullPointSession(t *testing.T) {
	srv, ts := onviftest.Start(t, [][]string{
		{fixture(t, "notifications_1.xml"), "FAULT"},
		{fixture(t, "notifications_2.xml")},
	})
	dev := ts.URL + "/onvif/device_service"
	c := newCollector(t, []DeviceConfig{{URL: dev, Username: onviftest.User, Password: onviftest.Password}},
		[]camera.Config{{ID: "cam-bo-ke", Name: "Bờ kè", Location: [2]float64{106.68, 10.76}, Source: camera.SourceConfig{Kind: camera.KindONVIF, URL: dev}}})
	rec := cameratest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec.Emit) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Events()) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := rec.Events()
	if len(evs) != 5 {
		t.Fatalf("got %d events, want 5: %+v", len(evs), evs)
	}
	tests := []struct {
		label, state, zones, sub string
		duration                 float64
	}{
		{label: "motion", state: "active", zones: "MyMotionDetectorRule"},
		{label: "intrusion", state: "active", zones: "VungCamBoKe"},
		{label: "motion", state: "ended", zones: "MyMotionDetectorRule", duration: 4},
		{label: "vehicle", state: "active", zones: "LanXeVao", sub: "30A-123.45"},
		{label: "motion", state: "active"},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d_%s_%s", i, tc.label, tc.state), func(t *testing.T) {
			ev := evs[i]
			if ev.Entity != "cam-bo-ke" || ev.Attrs["registered"] != "true" || !ev.HasLocation || ev.Type != stream.TypeCamera || ev.Kind != "camera" {
				t.Errorf("identity %+v", ev)
			}
			if ev.Attrs["label"] != tc.label || ev.Attrs["state"] != tc.state || ev.Attrs["zones"] != tc.zones || ev.Attrs["sub_label"] != tc.sub ||
				ev.Values["duration_s"] != tc.duration || ev.Values["count"] != 1 {
				t.Errorf("event %+v", ev)
			}
		})
	}
	if got := evs[0].Time; !got.Equal(time.Date(2026, 11, 23, 2, 40, 5, 0, time.UTC)) {
		t.Errorf("time from UtcTime = %v", got)
	}
	if got := testutil.ToFloat64(c.faults.WithLabelValues("pull_messages")); got != 1 {
		t.Errorf("pull faults = %g, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.DecodeErrors.WithLabelValues(stream.ReasonUnknownTopic)); got != 1 {
		t.Errorf("unknown topics = %g, want 1", got)
	}
	if got := testutil.ToFloat64(c.m.Reconnects); got < 1 {
		t.Errorf("reconnects = %g", got)
	}
	st := srv.Stats()
	if st.Subs < 2 || st.Renews < 1 || st.Unsubs < 2 || st.AuthBad != 0 {
		t.Errorf("device saw subs=%d renews=%d unsubs=%d bad auth=%d; ops %v", st.Subs, st.Renews, st.Unsubs, st.AuthBad, st.Ops[:min(len(st.Ops), 12)])
	}
}

func TestWrongPasswordIsAFaultNotACrash(t *testing.T) {
	srv, ts := onviftest.Start(t, nil)
	dev := ts.URL + "/onvif/device_service"
	c := newCollector(t, []DeviceConfig{{URL: dev, Username: onviftest.User, Password: "wrong"}}, nil)
	rec := cameratest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec.Emit) }()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(c.m.Reconnects) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(c.faults.WithLabelValues("get_capabilities")); got < 3 {
		t.Errorf("get_capabilities faults = %g, want ≥ 3 retries", got)
	}
	if len(rec.Events()) != 0 {
		t.Error("events without a subscription")
	}
	if st := srv.Stats(); st.Subs != 0 {
		t.Errorf("subscribed %d times with a wrong password", st.Subs)
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		fault  string
		reason string
	}{
		{name: "pull response", doc: onviftest.EnvOpen + `<tev:PullMessagesResponse><tev:CurrentTime>2026-11-23T02:40:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-23T02:41:00Z</tev:TerminationTime>` + fixture(t, "notifications_1.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`},
		{name: "fault", doc: onviftest.EnvOpen + `<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
			fault: "soap fault env:Sender/ter:NotAuthorized: Sender not Authorized"},
		{name: "doctype", doc: `<!DOCTYPE e [<!ENTITY x "y">]>` + onviftest.EnvOpen + `</env:Body></env:Envelope>`, reason: camera.ReasonDoctype},
		{name: "html", doc: `<html><body>401</body>`, reason: stream.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := parseEnvelope([]byte(tc.doc))
			switch {
			case tc.fault != "":
				var f *Fault
				if err == nil || !strings.Contains(err.Error(), tc.fault) || !asFault(err, &f) {
					t.Fatalf("err = %v", err)
				}
			case tc.reason != "":
				if stream.ReasonOf(err) != tc.reason {
					t.Fatalf("reason %q (%v)", stream.ReasonOf(err), err)
				}
			default:
				if err != nil || env.Body.Pull == nil || len(env.Body.Pull.Messages) != 4 || env.Body.Pull.Messages[1].Message.Data[0].Value != "true" {
					t.Fatalf("env = %+v, err = %v", env, err)
				}
			}
		})
	}
}

func asFault(err error, f **Fault) bool {
	ff, ok := err.(*Fault)
	*f = ff
	return ok
}

func TestUsernameTokenDigest(t *testing.T) {
	// WS-Security UsernameToken Profile 1.0 example values: nonce, created and password as published.
	nonce, err := base64.StdEncoding.DecodeString("LKqI6G/AikKCQrN0zqZFlg==")
	if err != nil {
		t.Fatal(err)
	}
	created, err := time.Parse(time.RFC3339, "2010-09-16T07:50:45Z")
	if err != nil {
		t.Fatal(err)
	}
	tok := usernameToken("user", "userpassword", created, nonce)
	sum := sha1.Sum([]byte(string(nonce) + "2010-09-16T07:50:45.000Z" + "userpassword"))
	if !strings.Contains(tok, base64.StdEncoding.EncodeToString(sum[:])) || !strings.Contains(tok, "<wsse:Username>user</wsse:Username>") {
		t.Errorf("token %s", tok)
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(onviftest.EnvOpen + `<tev:PullMessagesResponse>` + fixture(f, "notifications_2.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`))
	f.Add([]byte(onviftest.EnvOpen + `<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code></env:Fault></env:Body></env:Envelope>`))
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := parseEnvelope(data)
		var fault *Fault
		if err != nil && !asFault(err, &fault) && stream.ReasonOf(err) == "other" {
			t.Fatalf("error without a reason: %v", err)
		}
		if err == nil && env.Body.Pull != nil {
			for _, n := range env.Body.Pull.Messages {
				match(normalizeTopic(n.Topic))
			}
		}
	})
}

func BenchmarkParsePull(b *testing.B) {
	doc := []byte(onviftest.EnvOpen + `<tev:PullMessagesResponse><tev:CurrentTime>2026-11-23T02:40:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-23T02:41:00Z</tev:TerminationTime>` + fixture(b, "notifications_1.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`)
	c := newCollectorB(b)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		env, err := parseEnvelope(doc)
		if err != nil {
			b.Fatal(err)
		}
		c.events("http://10.0.0.5/onvif/device_service", env.Body.Pull.Messages)
	}
}

func newCollectorB(b *testing.B) *Collector {
	reg, err := camera.NewRegistry(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Defaults()
	cfg.CollapseWindow = 0
	c, err := New(cfg, reg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}
