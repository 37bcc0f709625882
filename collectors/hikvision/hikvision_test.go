package hikvision

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
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

const token = "hik-push-token-0123456789"

var t0 = time.Date(2026, 11, 23, 2, 30, 0, 0, time.UTC)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestCollector(t *testing.T, cfg Config, now *time.Time) (*Collector, *cameratest.Recorder) {
	t.Helper()
	clock := func() time.Time { return *now }
	cams, err := camera.NewRegistry([]camera.Config{
		{ID: "cam-ubnd", Name: "Cổng UBND", Location: [2]float64{106.70, 10.77}, Source: camera.SourceConfig{Kind: camera.KindHikvision, MAC: "BC:AD:28:11:22:33"}},
		{ID: "cam-line", Location: [2]float64{106.71, 10.78}, Source: camera.SourceConfig{Kind: camera.KindHikvision, MAC: "bc:ad:28:44:55:66", Channel: 1}},
		{ID: "cam-field", Location: [2]float64{106.72, 10.79}, Source: camera.SourceConfig{Kind: camera.KindHikvision, IP: "10.20.0.66"}},
		{ID: "cam-anpr", Location: [2]float64{106.73, 10.80}, Source: camera.SourceConfig{Kind: camera.KindHikvision, MAC: "bc:ad:28:aa:bb:cc"}},
	}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg = Defaults()
	}
	cfg.Auth = camera.AuthConfig{Mode: camera.AuthBearer, Secret: token}
	c, err := New(cfg, cams, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.now = clock
	rec := cameratest.NewRecorder()
	c.out.Open(rec.Emit)
	return c, rec
}

func post(t *testing.T, h http.Handler, ctype string, body []byte, auth bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/hikvision", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// multipartBody builds a Hikvision-style multipart body: the alert document then a JPEG.
func multipartBody(t *testing.T, kind, docName, docType string, doc []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	disp := func(name string) string {
		if kind == "form-data" {
			return fmt.Sprintf(`form-data; name=%q; filename=%q`, name, name)
		}
		return fmt.Sprintf(`attachment; filename=%q`, name)
	}
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {disp(docName)}, "Content-Type": {docType}})
	if err != nil {
		t.Fatal(err)
	}
	p.Write(doc)
	p, err = mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {disp("licensePlatePicture.jpg")}, "Content-Type": {"image/jpeg"}})
	if err != nil {
		t.Fatal(err)
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x42}, 2044)...)
	p.Write(append(jpeg, 0xFF, 0xD9))
	mw.Close()
	return "multipart/" + kind + "; boundary=" + mw.Boundary(), buf.Bytes()
}

func TestPushFormats(t *testing.T) {
	anprType, anprForm := multipartBody(t, "form-data", "anpr.xml", "text/xml", fixture(t, "anpr.xml"))
	mixedType, mixedBody := multipartBody(t, "mixed", "fielddetection.json", "application/json", fixture(t, "fielddetection.json"))
	tests := []struct {
		name    string
		ctype   string
		body    []byte
		entity  string
		label   string
		vendor  string
		check   func(t *testing.T, ev stream.Event)
		noEvent bool
	}{
		{name: "VMD xml", ctype: "application/xml", body: fixture(t, "vmd.xml"), entity: "cam-ubnd", label: "motion", vendor: "VMD"},
		{name: "line crossing with target", ctype: "application/xml; charset=UTF-8", body: fixture(t, "linedetection.xml"), entity: "cam-line", label: "human", vendor: "linedetection",
			check: func(t *testing.T, ev stream.Event) {
				if ev.Attrs["zones"] != "2" {
					t.Errorf("zones %q", ev.Attrs["zones"])
				}
			}},
		{name: "region entrance", ctype: "text/xml", body: fixture(t, "regionEntrance.xml"), entity: "cam-line", label: "human", vendor: "regionEntrance"},
		{name: "region exiting", ctype: "", body: fixture(t, "regionExiting.xml"), entity: "cam-line", label: "human", vendor: "regionExiting"},
		{name: "intrusion json", ctype: "application/json", body: fixture(t, "fielddetection.json"), entity: "cam-field", label: "intrusion", vendor: "fielddetection"},
		{name: "ANPR form-data with picture", ctype: anprType, body: anprForm, entity: "cam-anpr", label: "vehicle", vendor: "ANPR",
			check: func(t *testing.T, ev stream.Event) {
				if ev.Attrs["plate"] != "51F12345" || ev.Attrs["sub_label"] != "51F12345" || ev.Values["score"] != 0.92 || ev.Attrs["picture"] != "attached" || ev.Values["picture_bytes"] != 2050 {
					t.Errorf("anpr = %+v", ev)
				}
			}},
		{name: "intrusion mixed with picture", ctype: mixedType, body: mixedBody, entity: "cam-field", label: "intrusion", vendor: "fielddetection",
			check: func(t *testing.T, ev stream.Event) {
				if ev.Attrs["picture"] != "attached" {
					t.Errorf("picture not noted: %+v", ev.Attrs)
				}
			}},
		{name: "tampering unregistered local time", ctype: "application/xml", body: fixture(t, "shelteralarm.xml"), entity: "hikvision:bcad28dead01-3", label: "tampering", vendor: "shelteralarm",
			check: func(t *testing.T, ev stream.Event) {
				if ev.Attrs["registered"] != "false" || ev.HasLocation || !ev.Time.Equal(time.Date(2026, 11, 23, 2, 34, 0, 0, time.UTC)) {
					t.Errorf("unregistered = %+v (time in Asia/Ho_Chi_Minh)", ev)
				}
			}},
		{name: "heartbeat", ctype: "application/xml", body: fixture(t, "heartbeat.xml"), noEvent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			c, rec := newTestCollector(t, Config{}, &now)
			w := post(t, c.Handler(), tc.ctype, tc.body, true)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			evs := rec.Take()
			if tc.noEvent {
				if len(evs) != 0 {
					t.Fatalf("heartbeat emitted %+v", evs)
				}
				if last, _ := c.cams.LastHeard("cam-ubnd"); !last.Equal(now) {
					t.Errorf("heartbeat did not mark the camera alive")
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events", len(evs))
			}
			ev := evs[0]
			if ev.Entity != tc.entity || ev.Attrs["label"] != tc.label || ev.Attrs["event_type"] != tc.vendor || ev.Attrs["state"] != "active" ||
				ev.Type != stream.TypeCamera || ev.Kind != "camera" || ev.Values["count"] != 1 {
				t.Errorf("event = %+v", ev)
			}
			if err := stream.Validate(&ev, t0.Add(time.Hour), stream.Limits{}); err != nil {
				t.Error(err)
			}
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
}

func TestPushRejects(t *testing.T) {
	laughs := []byte(`<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><EventNotificationAlert><macAddress>bc:ad:28:11:22:33</macAddress><eventType>&b;</eventType></EventNotificationAlert>`)
	tests := []struct {
		name   string
		ctype  string
		body   []byte
		auth   bool
		status int
		reason string
	}{
		{name: "no token", ctype: "application/xml", body: fixture(t, "vmd.xml"), status: 401},
		{name: "billion laughs", ctype: "application/xml", body: laughs, auth: true, status: 400, reason: camera.ReasonDoctype},
		{name: "deep xml", ctype: "application/xml", body: []byte(strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)), auth: true, status: 400, reason: camera.ReasonTooDeep},
		{name: "no event type", ctype: "application/json", body: []byte(`{"macAddress":"bc:ad:28:11:22:33"}`), auth: true, status: 400, reason: stream.ReasonMalformed},
		{name: "no identity", ctype: "application/json", body: []byte(`{"eventType":"VMD"}`), auth: true, status: 400, reason: stream.ReasonNoEntity},
		{name: "multipart without alert", ctype: "multipart/form-data; boundary=x", body: []byte("--x\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--x--\r\n"), auth: true, status: 400, reason: stream.ReasonEmpty},
		{name: "too large", ctype: "application/xml", body: bytes.Repeat([]byte(" "), 5<<20), auth: true, status: 413, reason: stream.ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			c, rec := newTestCollector(t, Config{}, &now)
			w := post(t, c.Handler(), tc.ctype, tc.body, tc.auth)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.reason != "" {
				if got := testutil.ToFloat64(c.m.DecodeErrors.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("decode_errors{%s} = %g", tc.reason, got)
				}
			}
			if len(rec.Take()) != 0 {
				t.Error("rejected alarm emitted events")
			}
		})
	}
}

func TestAutoClearAndCollapse(t *testing.T) {
	now := t0
	cfg := Defaults()
	cfg.QuietTimeouts = map[string]time.Duration{"fielddetection": 30 * time.Second}
	c, rec := newTestCollector(t, cfg, &now)
	h := c.Handler()
	send := func(name string) {
		if w := post(t, h, "", fixture(t, name), true); w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	for range 4 { // VMD every second: one event now, three repeats held
		send("vmd.xml")
		now = now.Add(time.Second)
	}
	send("fielddetection.json")
	if evs := rec.Take(); len(evs) != 2 {
		t.Fatalf("got %d events, want first VMD and first intrusion", len(evs))
	}
	now = t0.Add(14 * time.Second) // VMD quiet for 11 s > 10 s default; intrusion has 30 s
	evs := c.sweep(now)
	if len(evs) != 2 {
		t.Fatalf("sweep = %+v", evs)
	}
	if s := evs[0]; s.Attrs["state"] != "active" || s.Values["count"] != 3 || s.Attrs["collapsed"] != "true" {
		t.Errorf("summary = %+v", s)
	}
	if e := evs[1]; e.Entity != "cam-ubnd" || e.Attrs["state"] != "ended" || e.Attrs["auto_cleared"] != "true" || e.Values["duration_s"] != 3 {
		t.Errorf("auto-cleared = %+v", e)
	}
	if evs := c.sweep(t0.Add(30 * time.Second)); len(evs) != 0 {
		t.Errorf("intrusion cleared before its own 30 s timeout: %+v", evs)
	}
	if evs := c.sweep(t0.Add(35 * time.Second)); len(evs) != 1 || evs[0].Entity != "cam-field" || evs[0].Attrs["state"] != "ended" {
		t.Errorf("intrusion not cleared after 30 s: %+v", evs)
	}

	// ANPR reads are momentary (never auto-ended) and different plates are not repeats.
	now = t0.Add(40 * time.Second)
	send("anpr.xml")
	if w := post(t, h, "", bytes.Replace(fixture(t, "anpr.xml"), []byte("51F12345"), []byte("29A67890"), 1), true); w.Code != 200 {
		t.Fatal(w.Body)
	}
	send("anpr.xml")
	if evs := rec.Take(); len(evs) != 2 || evs[0].Attrs["plate"] != "51F12345" || evs[1].Attrs["plate"] != "29A67890" {
		t.Fatalf("plates = %+v", evs)
	}
	if evs := c.sweep(now.Add(11 * time.Second)); len(evs) != 1 || evs[0].Attrs["collapsed"] != "true" || evs[0].Values["count"] != 1 || evs[0].Attrs["plate"] != "51F12345" {
		t.Fatalf("ANPR sweep = %+v (only the repeated 51F12345 summary, no ended events)", evs)
	}

	// An explicit inactive ends the alarm at once and carries the duration.
	now = t0.Add(time.Minute)
	send("vmd.xml")
	now = now.Add(5 * time.Second)
	if w := post(t, h, "", bytes.Replace(fixture(t, "vmd.xml"), []byte(">active<"), []byte(">inactive<"), 1), true); w.Code != 200 {
		t.Fatal(w.Body)
	}
	evs = rec.Take()
	if len(evs) != 2 || evs[1].Attrs["state"] != "ended" || evs[1].Values["duration_s"] != 5 {
		t.Fatalf("explicit end = %+v", evs)
	}
	if evs := c.sweep(now.Add(time.Hour)); len(evs) != 0 {
		t.Errorf("ended alarm swept again: %+v", evs)
	}
}

// alertStreamServer speaks the device side of /ISAPI/Event/notification/alertStream with Digest
// authentication: each connection sends its parts, then the device drops the connection.
type alertStreamServer struct {
	t        *testing.T
	conns    [][][]byte // parts per connection
	mu       sync.Mutex
	served   int
	authSeen []string
}

const realm, user, pass = "IP Camera(C1234)", "admin", "Hik12345!"

func (s *alertStreamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != AlertStreamPath {
		http.NotFound(w, r)
		return
	}
	nonce := "4e6a4d344d5451784e7a6b364e6a4d7a"
	if !s.checkDigest(r.Header.Get("Authorization"), nonce) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest qop="auth", realm=%q, nonce=%q, stale="FALSE"`, realm, nonce))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	i := s.served
	s.served++
	s.mu.Unlock()
	if i >= len(s.conns) {
		<-r.Context().Done() // later connections stay open and silent
		return
	}
	w.Header().Set("Content-Type", "multipart/mixed; boundary=boundary")
	w.WriteHeader(http.StatusOK)
	for _, part := range s.conns[i] {
		ctype := "application/xml; charset=\"UTF-8\""
		if part[0] == 0xFF {
			ctype = "image/jpeg"
		}
		if bytes.HasSuffix(part, []byte("<eventType>")) { // a truncated document sent without Content-Length
			fmt.Fprintf(w, "--boundary\r\nContent-Type: %s\r\n\r\n", ctype)
		} else {
			fmt.Fprintf(w, "--boundary\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ctype, len(part))
		}
		w.Write(part)
		io.WriteString(w, "\r\n")
		w.(http.Flusher).Flush()
	}
}

// checkDigest verifies an RFC 7616 MD5 qop=auth response, computed here independently.
func (s *alertStreamServer) checkDigest(h, nonce string) bool {
	if h == "" {
		return false
	}
	s.mu.Lock()
	s.authSeen = append(s.authSeen, h)
	s.mu.Unlock()
	p := authParams(strings.TrimPrefix(h, "Digest "))
	md := func(x string) string { sum := md5.Sum([]byte(x)); return hex.EncodeToString(sum[:]) }
	want := md(md(user+":"+realm+":"+pass) + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + md("GET:"+p["uri"]))
	return p["username"] == user && p["nonce"] == nonce && p["uri"] == AlertStreamPath && p["qop"] == "auth" && p["response"] == want
}

func TestAlertStreamPullReconnects(t *testing.T) {
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xD9}
	srv := &alertStreamServer{t: t, conns: [][][]byte{
		{fixture(t, "heartbeat.xml"), fixture(t, "vmd.xml"), jpeg},
		{[]byte("<EventNotificationAlert><eventType>"), fixture(t, "linedetection.xml")},
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	now := t0
	cfg := Defaults()
	cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.Streams = []StreamConfig{{URL: ts.URL, Username: user, Password: pass}}
	c, _ := newTestCollector(t, cfg, &now)
	rec2 := cameratest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec2.Emit) }()
	evs := rec2.Wait(t, 2, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if evs[0].Entity != "cam-ubnd" || evs[0].Attrs["label"] != "motion" || evs[1].Entity != "cam-line" || evs[1].Attrs["event_type"] != "linedetection" {
		t.Errorf("stream events = %+v", evs)
	}
	if got := testutil.ToFloat64(c.m.Reconnects); got < 1 {
		t.Errorf("reconnects = %g, want ≥ 1", got)
	}
	if got := testutil.ToFloat64(c.m.DecodeErrors.WithLabelValues(stream.ReasonMalformed)); got != 1 {
		t.Errorf("the truncated part was not counted as malformed: %g", got)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.served < 2 {
		t.Errorf("device served %d authenticated connections, want ≥ 2", srv.served)
	}
}

func TestDigestRFC7616Example(t *testing.T) {
	// RFC 7616 section 3.9.1: the same request answered with MD5 and SHA-256.
	ch := challenge{realm: "http-auth@example.org", nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
		opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", qops: []string{"auth", "auth-int"}}
	tests := []struct {
		alg, response string
	}{
		{alg: "MD5", response: "8ca523f5e9506fed4657c9700eebdbec"},
		{alg: "SHA-256", response: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			ch.algorithm = tc.alg
			h, err := digestAuthorization(ch, "Mufasa", "Circle of Life", "GET", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", 1)
			if err != nil {
				t.Fatal(err)
			}
			p := authParams(strings.TrimPrefix(h, "Digest "))
			if p["response"] != tc.response || p["nc"] != "00000001" || p["opaque"] != ch.opaque || p["qop"] != "auth" {
				t.Errorf("header %s", h)
			}
		})
	}
	got, ok := parseChallenge(`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`)
	if !ok || got.algorithm != "SHA-256" || got.realm != ch.realm || len(got.qops) != 2 || got.opaque != ch.opaque {
		t.Errorf("parsed challenge %+v", got)
	}
	if _, err := digestAuthorization(challenge{nonce: "n", algorithm: "SHA-512-256"}, "u", "p", "GET", "/", "c", 1); err == nil {
		t.Error("unsupported algorithm accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"vmd.xml", "linedetection.xml", "anpr.xml", "heartbeat.xml"} {
		f.Add("application/xml", fixture(f, name))
	}
	f.Add("application/json", fixture(f, "fielddetection.json"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a.xml\"\r\nContent-Type: text/xml\r\n\r\n<EventNotificationAlert><macAddress>a</macAddress><eventType>VMD</eventType></EventNotificationAlert>\r\n--x--\r\n"))
	f.Add("", []byte(`<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		alerts, _, err := Decode(ctype, body)
		if err != nil {
			if stream.ReasonOf(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		for _, a := range alerts {
			if a.EventType == "" || (a.MACAddress == "" && a.IPAddress == "") {
				t.Fatalf("accepted %+v", a)
			}
		}
	})
}

func BenchmarkPushXML(b *testing.B) {
	benchPush(b, "application/xml", fixture(b, "vmd.xml"))
}

func BenchmarkPushMultipartPicture(b *testing.B) {
	t := &testing.T{}
	ct, body := multipartBody(t, "form-data", "anpr.xml", "text/xml", fixture(b, "anpr.xml"))
	benchPush(b, ct, body)
}

func benchPush(b *testing.B, ctype string, body []byte) {
	cams, err := camera.NewRegistry(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Defaults()
	cfg.CollapseWindow = 0
	cfg.Auth = camera.AuthConfig{Mode: camera.AuthBearer, Secret: token}
	c, err := New(cfg, cams, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	c.out.Open(func(context.Context, stream.Batch) error { return nil })
	h := c.Handler()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/ingest/hikvision", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func FuzzPartReader(f *testing.F) {
	f.Add([]byte("--boundary\r\nContent-Type: application/xml\r\nContent-Length: 5\r\n\r\n<a/>\n\r\n--boundary\r\nContent-Type: text/plain\r\n\r\nhello\r\n--boundary--\r\n"))
	f.Add([]byte("preamble\r\n--boundary\r\nContent-Length: 99999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr := newPartReader(bytes.NewReader(data), "boundary")
		for range 100 {
			_, body, err := pr.next()
			if err != nil {
				return
			}
			if len(body) > maxPartBytes {
				t.Fatalf("part of %d bytes", len(body))
			}
		}
	})
}
