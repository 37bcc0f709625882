package onvif

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/internal/camera/cameratest"
	"github.com/ioc-vn/ioc/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const devUser, devPass = "onvif-admin", "Mật-khẩu-2026"

// deviceSkew is how far the fake device's clock runs ahead of ours; UsernameTokens must follow it.
const deviceSkew = time.Hour

// pullPointServer is a small ONVIF device: device service (GetSystemDateAndTime, GetCapabilities)
// and events service (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe), checking
// WS-Security UsernameToken digests. Each subscription serves its scripted pulls in order, then
// empty pulls; a pull scripted as "FAULT" answers with a SOAP fault.
type pullPointServer struct {
	t      *testing.T
	url    string
	script [][]string // per subscription, per pull: notification XML or "FAULT"

	mu      sync.Mutex
	subs    int
	pulls   map[int]int
	renews  int
	unsubs  int
	authBad int
	ops     []string
}

func (s *pullPointServer) devNow() time.Time { return time.Now().Add(deviceSkew).UTC() }

type request struct {
	Header struct {
		Token struct {
			Username string `xml:"Username"`
			Password string `xml:"Password"`
			Nonce    string `xml:"Nonce"`
			Created  string `xml:"Created"`
		} `xml:"Security>UsernameToken"`
	} `xml:"Header"`
	Body struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

func (s *pullPointServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		s.t.Error(err)
		return
	}
	var req request
	if err := xml.Unmarshal(data, &req); err != nil {
		s.fault(w, "env:Sender", "ter:WellFormed", "not well formed")
		return
	}
	op := opName(req.Body.Inner)
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
	if op != "GetSystemDateAndTime" && !s.authorized(req) {
		s.mu.Lock()
		s.authBad++
		s.mu.Unlock()
		s.fault(w, "env:Sender", "ter:NotAuthorized", "Sender not Authorized")
		return
	}
	now := s.devNow()
	switch op {
	case "GetSystemDateAndTime":
		s.reply(w, fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time><tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>
</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`, now.Hour(), now.Minute(), now.Second(), now.Year(), now.Month(), now.Day()))
	case "GetCapabilities":
		s.reply(w, `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>`+s.url+`/onvif/event_service</tt:XAddr>
<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events></tds:Capabilities></tds:GetCapabilitiesResponse>`)
	case "CreatePullPointSubscription":
		s.mu.Lock()
		s.subs++
		n := s.subs
		s.mu.Unlock()
		s.reply(w, fmt.Sprintf(`<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address>%s/onvif/subscription/%d</wsa5:Address></tev:SubscriptionReference>
<wsnt:CurrentTime>%s</wsnt:CurrentTime><wsnt:TerminationTime>%s</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
			s.url, n, now.Format(time.RFC3339), now.Add(10*time.Second).Format(time.RFC3339)))
	case "PullMessages":
		var sub int
		fmt.Sscanf(r.URL.Path, "/onvif/subscription/%d", &sub)
		s.mu.Lock()
		i := s.pulls[sub]
		s.pulls[sub]++
		s.mu.Unlock()
		msgs := ""
		if sub-1 < len(s.script) && i < len(s.script[sub-1]) {
			msgs = s.script[sub-1][i]
		} else {
			time.Sleep(20 * time.Millisecond) // an idle long poll
		}
		if msgs == "FAULT" {
			s.fault(w, "env:Receiver", "ter:Action", "subscription terminated")
			return
		}
		s.reply(w, fmt.Sprintf(`<tev:PullMessagesResponse><tev:CurrentTime>%s</tev:CurrentTime><tev:TerminationTime>%s</tev:TerminationTime>%s</tev:PullMessagesResponse>`,
			now.Format(time.RFC3339), now.Add(10*time.Second).Format(time.RFC3339), msgs))
	case "Renew":
		s.mu.Lock()
		s.renews++
		s.mu.Unlock()
		s.reply(w, fmt.Sprintf(`<wsnt:RenewResponse><wsnt:TerminationTime>%s</wsnt:TerminationTime><wsnt:CurrentTime>%s</wsnt:CurrentTime></wsnt:RenewResponse>`,
			now.Add(10*time.Second).Format(time.RFC3339), now.Format(time.RFC3339)))
	case "Unsubscribe":
		s.mu.Lock()
		s.unsubs++
		s.mu.Unlock()
		s.reply(w, `<wsnt:UnsubscribeResponse/>`)
	default:
		s.fault(w, "env:Sender", "ter:ActionNotSupported", "unknown operation "+op)
	}
}

// authorized checks the UsernameToken: user, digest = Base64(SHA1(nonce + created + password)), and
// Created within 5 minutes of the device clock.
func (s *pullPointServer) authorized(req request) bool {
	tok := req.Header.Token
	nonce, err := base64.StdEncoding.DecodeString(tok.Nonce)
	if err != nil || tok.Username != devUser {
		return false
	}
	created, err := time.Parse(time.RFC3339Nano, tok.Created)
	if err != nil || created.Sub(s.devNow()).Abs() > 5*time.Minute {
		return false
	}
	sum := sha1.Sum(append(append(nonce, tok.Created...), devPass...))
	return tok.Password == base64.StdEncoding.EncodeToString(sum[:])
}

func opName(inner []byte) string {
	d := xml.NewDecoder(bytes.NewReader(inner))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local
		}
	}
}

const envOpen = `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>`

func (s *pullPointServer) reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	io.WriteString(w, envOpen+body+`</env:Body></env:Envelope>`)
}

func (s *pullPointServer) fault(w http.ResponseWriter, code, sub, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `%s<env:Fault><env:Code><env:Value>%s</env:Value><env:Subcode><env:Value>%s</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">%s</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`, envOpen, code, sub, reason)
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func startDevice(t *testing.T, script [][]string) (*pullPointServer, *httptest.Server) {
	srv := &pullPointServer{t: t, script: script, pulls: map[int]int{}}
	ts := httptest.NewServer(srv)
	srv.url = ts.URL
	t.Cleanup(ts.Close)
	return srv, ts
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
	srv, ts := startDevice(t, [][]string{
		{fixture(t, "notifications_1.xml"), "FAULT"},
		{fixture(t, "notifications_2.xml")},
	})
	dev := ts.URL + "/onvif/device_service"
	c := newCollector(t, []DeviceConfig{{URL: dev, Username: devUser, Password: devPass}},
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
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.subs < 2 || srv.renews < 1 || srv.unsubs < 2 || srv.authBad != 0 {
		t.Errorf("device saw subs=%d renews=%d unsubs=%d bad auth=%d; ops %v", srv.subs, srv.renews, srv.unsubs, srv.authBad, srv.ops[:min(len(srv.ops), 12)])
	}
}

func TestWrongPasswordIsAFaultNotACrash(t *testing.T) {
	srv, ts := startDevice(t, nil)
	dev := ts.URL + "/onvif/device_service"
	c := newCollector(t, []DeviceConfig{{URL: dev, Username: devUser, Password: "wrong"}}, nil)
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
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.subs != 0 {
		t.Errorf("subscribed %d times with a wrong password", srv.subs)
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		fault  string
		reason string
	}{
		{name: "pull response", doc: envOpen + `<tev:PullMessagesResponse><tev:CurrentTime>2026-11-23T02:40:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-23T02:41:00Z</tev:TerminationTime>` + fixture(t, "notifications_1.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`},
		{name: "fault", doc: envOpen + `<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
			fault: "soap fault env:Sender/ter:NotAuthorized: Sender not Authorized"},
		{name: "doctype", doc: `<!DOCTYPE e [<!ENTITY x "y">]>` + envOpen + `</env:Body></env:Envelope>`, reason: camera.ReasonDoctype},
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
	f.Add([]byte(envOpen + `<tev:PullMessagesResponse>` + fixture(f, "notifications_2.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`))
	f.Add([]byte(envOpen + `<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code></env:Fault></env:Body></env:Envelope>`))
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
	doc := []byte(envOpen + `<tev:PullMessagesResponse><tev:CurrentTime>2026-11-23T02:40:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-23T02:41:00Z</tev:TerminationTime>` + fixture(b, "notifications_1.xml") + `</tev:PullMessagesResponse></env:Body></env:Envelope>`)
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
