package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type upload struct {
	name string
	data []byte
}

// multipartBody builds a citizen submission with the private contact fields set.
func multipartBody(t testing.TB, fields map[string]string, files ...upload) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	all := map[string]string{"category": "RAC_THAI", "description": "Rác đổ trộm cạnh chợ", "lon": "106.3759", "lat": "10.2415",
		"attribute[volume]": "large", "name": contactValues["first_name"] + " " + contactValues["last_name"],
		"phone": contactValues["phone"], "email": contactValues["email"], "device_id": contactValues["device_id"]}
	for k, v := range fields {
		all[k] = v
	}
	for k, v := range all {
		if v == "" {
			continue
		}
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		w, err := mw.CreateFormFile("photo", f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

type submitted struct {
	ID   int64  `json:"id"`
	Code string `json:"code"`
}

func (e *env) submit(fields map[string]string, hdr map[string]string, files ...upload) (resp, submitted) {
	e.t.Helper()
	ct, body := multipartBody(e.t, fields, files...)
	r := e.do("POST", "/api/v1/reports", ct, body, hdr)
	var s submitted
	if r.status == 201 || r.status == 200 {
		mustJSONDecode(e.t, r.body, &s)
	}
	return r, s
}

func testJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{200, 30, 30, 255} // left half red
			if x >= w/2 {
				c = color.RGBA{30, 30, 200, 255} // right half blue
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWorkflow(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			r, a := e.submit(nil, nil, upload{"a.jpg", testJPEG(t, 64, 48)})
			if r.status != 201 || !ValidCode(a.Code) || len(a.Code) != len("BT-7K3Q-9XAB-M4TZ") {
				t.Fatalf("submit: %d %s", r.status, r.body)
			}
			_, b := e.submit(map[string]string{"device_id": "other-device"}, nil)
			id := strconv.FormatInt(a.ID, 10)
			move := func(to, extra string) resp {
				return e.operator("POST", "/api/v1/reports/"+id+"/transition", `{"to":"`+to+`","note":"ghi chú `+to+`"`+extra+`}`)
			}
			for _, tc := range []struct {
				name   string
				to     string
				extra  string
				status int
				want   string
			}{
				{"skip triage", "in_progress", "", 409, "cannot move from new to in_progress"},
				{"triage", "triaged", "", 200, `"status":"triaged"`},
				{"resolve unassigned", "resolved", "", 409, "cannot move from triaged to resolved"},
				{"assign to other unit", "assigned", `,"unit":"Đội vệ sinh Phường 3"`, 200, `"unit":"Đội vệ sinh Phường 3"`},
				{"unknown status", "done", "", 409, "unknown status"},
				{"start", "in_progress", "", 200, `"status":"in_progress"`},
				{"resolve", "resolved", "", 200, `"status":"resolved"`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := move(tc.to, tc.extra)
					if r.status != tc.status || !strings.Contains(r.body, tc.want) {
						t.Fatalf("got %d %s, want %d with %s", r.status, r.body, tc.status, tc.want)
					}
				})
			}
			if r := e.do("POST", "/api/v1/reports/"+id+"/transition", "application/json", strings.NewReader(`{"to":"closed"}`), nil); r.status != 401 {
				t.Fatalf("transition without actor: %d", r.status)
			}
			// Duplicate needs an existing original.
			bid := strconv.FormatInt(b.ID, 10)
			if r := e.operator("POST", "/api/v1/reports/"+bid+"/transition", `{"to":"duplicate"}`); r.status != 400 {
				t.Fatalf("duplicate without original: %d %s", r.status, r.body)
			}
			if r := e.operator("POST", "/api/v1/reports/"+bid+"/transition", `{"to":"duplicate","duplicate_of":`+id+`}`); r.status != 200 || !strings.Contains(r.body, `"duplicate_of":`+id) {
				t.Fatalf("duplicate: %d %s", r.status, r.body)
			}

			// The citizen tracks and reopens within the window; not after it.
			tr := e.get("/api/v1/reports/track/" + strings.ToLower(a.Code))
			e.assertNoContact("track", tr.body)
			if tr.status != 200 || !strings.Contains(tr.body, `"status":"resolved"`) || strings.Count(tr.body, `"at":`) != 5 ||
				!strings.Contains(tr.body, "https://ioc.example.vn/api/v1/reports/photos/") {
				t.Fatalf("track: %s", tr.body)
			}
			e.clock.Advance(6 * 24 * time.Hour)
			reopen := func() resp {
				return e.do("POST", "/api/v1/reports/track/"+a.Code+"/reopen", "application/json", strings.NewReader(`{"note":"vẫn còn rác"}`), nil)
			}
			if r := reopen(); r.status != 200 || !strings.Contains(r.body, `"status":"reopened"`) {
				t.Fatalf("reopen: %d %s", r.status, r.body)
			}
			for _, to := range []string{"in_progress", "resolved", "closed"} {
				if r := move(to, ""); r.status != 200 {
					t.Fatalf("%s: %d %s", to, r.status, r.body)
				}
			}
			e.clock.Advance(8 * 24 * time.Hour)
			if r := reopen(); r.status != 409 || !strings.Contains(r.body, "reopen window") {
				t.Fatalf("late reopen: %d %s", r.status, r.body)
			}

			// Operator view has the contact data and full history with actors.
			g := e.operator("GET", "/api/v1/reports/"+id, "")
			if !strings.Contains(g.body, contactValues["phone"]) || !strings.Contains(g.body, `"actor":"op.nguyen"`) || !strings.Contains(g.body, `"actor":"citizen"`) {
				t.Fatalf("operator get: %s", g.body)
			}
			l := e.operator("GET", "/api/v1/reports?status=closed,duplicate&area=829&category=RAC_THAI", "")
			var listed []Report
			mustJSONDecode(t, l.body, &listed)
			if len(listed) != 2 {
				t.Fatalf("operator list: %s", l.body)
			}

			// Events carry no contact data; description only once public.
			e.mu.Lock()
			defer e.mu.Unlock()
			if len(e.events) < 10 {
				t.Fatalf("only %d events", len(e.events))
			}
			first := e.events[0]
			if first.Type != "report" || first.Kind != "report" || first.Entity != "report-"+id || !first.HasLocation ||
				first.Areas["district"] != "829" || first.Attrs["status"] != "new" || first.Attrs["public"] != "false" || first.Attrs["description"] != "" {
				t.Fatalf("first event: %+v", first)
			}
			for _, ev := range e.events {
				e.assertNoContact("event", fmt.Sprint(ev))
			}
			if e.events[2].Attrs["description"] != "Rác đổ trộm cạnh chợ" { // events[1] is the second report
				t.Fatalf("triaged event without description: %+v", e.events[2])
			}
		})
	}
}

func TestEscalation(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			_, flood := e.submit(map[string]string{"category": "NGAP_NUOC", "attribute[volume]": ""}, nil) // urgent: handled in 4 working hours
			_, trash := e.submit(map[string]string{"device_id": "d2"}, nil)                                // normal: received in 8
			e.clock.Advance(20 * time.Hour)                                                                // Tue 15:00 → Wed 11:00: 5.5 working hours
			for range 2 {                                                                                  // a second pass must not escalate again
				if err := e.svc.Escalate(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			e.mu.Lock()
			got := len(e.overdue)
			e.mu.Unlock()
			if got != 1 {
				t.Fatalf("escalated %d reports, want 1 (the flooding one)", got)
			}
			if e.overdue[0].ID != flood.ID {
				t.Fatalf("escalated %d, want %d", e.overdue[0].ID, flood.ID)
			}
			var v PublicView
			mustJSONDecode(t, e.get("/api/v1/reports/track/"+flood.Code).body, &v)
			if !v.Overdue {
				t.Fatal("flooding report not flagged overdue")
			}
			mustJSONDecode(t, e.get("/api/v1/reports/track/"+trash.Code).body, &v)
			if v.Overdue {
				t.Fatal("garbage report flagged overdue before its 8 working hours to be received")
			}
		})
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 1000; c.RateDevice.Burst = 1000 })
			const n = 16
			var wg sync.WaitGroup
			results := make([]submitted, n)
			statuses := make([]int, n)
			for i := range n {
				wg.Go(func() {
					r, s := e.submit(nil, map[string]string{"Idempotency-Key": "retry-key-0001"})
					results[i], statuses[i] = s, r.status
				})
			}
			wg.Wait()
			created := 0
			for i := range n {
				if statuses[i] == 201 {
					created++
				} else if statuses[i] != 200 {
					t.Fatalf("retry %d: status %d", i, statuses[i])
				}
				if results[i] != results[0] {
					t.Fatalf("retry %d got %+v, first got %+v", i, results[i], results[0])
				}
			}
			if created != 1 {
				t.Fatalf("%d retries answered 201, want exactly 1", created)
			}
			all, err := e.store.List(t.Context(), Query{})
			if err != nil || len(all) != 1 {
				t.Fatalf("stored %d reports (%v), want 1", len(all), err)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) { c.RateIP.Burst = 3; c.RateDevice.Burst = 2 })
	var got []int
	for i := range 4 {
		r, _ := e.submit(map[string]string{"device_id": fmt.Sprintf("dev-%d", i)}, nil)
		got = append(got, r.status)
	}
	if fmt.Sprint(got) != "[201 201 201 429]" {
		t.Fatalf("per-IP statuses %v", got)
	}
	e2 := newEnv(t, DriverSQLite, func(c *Config) { c.RateDevice.Burst = 2 })
	got = nil
	for range 3 {
		r, _ := e2.submit(map[string]string{"device_id": "same-phone"}, nil)
		got = append(got, r.status)
	}
	if fmt.Sprint(got) != "[201 201 429]" {
		t.Fatalf("per-device statuses %v", got)
	}
	l := newLimiter(RateConfig{Every: time.Hour, Burst: 1}, 2)
	for _, k := range []string{"a", "b", "c"} {
		l.allow(k, testStart)
	}
	if l.size() != 2 || !l.allow("a", testStart) { // a was evicted, so it has a fresh bucket
		t.Fatalf("limiter did not evict the least recently seen key (size %d)", l.size())
	}
}

func TestBotCheck(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) { c.BotCheck = "on" })
	var tok struct{ Token string }
	mustJSONDecode(t, e.get("/api/v1/reports/form-token").body, &tok)
	for _, tc := range []struct {
		name    string
		fields  map[string]string
		advance time.Duration
		status  int
	}{
		{"no token", nil, 0, 403},
		{"forged token", map[string]string{"form_token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 0, 403},
		{"too fast", map[string]string{"form_token": tok.Token}, time.Second, 403},
		{"honeypot", map[string]string{"form_token": tok.Token, "website": "http://spam"}, 5 * time.Second, 403},
		{"human", map[string]string{"form_token": tok.Token}, 0, 201},
		{"expired", map[string]string{"form_token": tok.Token, "device_id": "x2"}, 3 * time.Hour, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(tc.advance)
			if r, _ := e.submit(tc.fields, nil); r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
}

func TestPublicResponsesHideContact(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			_, a := e.submit(nil, nil)
			_, far := e.submit(map[string]string{"device_id": "d-far", "lat": "10.2425"}, nil) // ~110 m north
			e.operator("POST", fmt.Sprintf("/api/v1/reports/%d/transition", a.ID), `{"to":"triaged"}`)
			for _, path := range []string{
				"/api/v1/reports/track/" + a.Code, "/api/v1/reports/nearby?category=RAC_THAI&lon=106.3760&lat=10.2416",
				"/api/v1/reports/map", "/open311/v2/requests.json", "/open311/v2/requests.xml",
				fmt.Sprintf("/open311/v2/requests/%d.json?extensions=true", a.ID),
			} {
				r := e.get(path)
				if r.status != 200 {
					t.Fatalf("%s: %d %s", path, r.status, r.body)
				}
				e.assertNoContact(path, r.body)
				if path != "/api/v1/reports/track/"+a.Code && strings.Contains(r.body, a.Code) {
					t.Errorf("%s leaks the tracking code", path)
				}
			}
			var near []PublicView
			mustJSONDecode(t, e.get("/api/v1/reports/nearby?category=RAC_THAI&lon=106.3760&lat=10.2416").body, &near)
			if len(near) != 1 || near[0].ID != a.ID || *near[0].DistanceM > 50 {
				t.Fatalf("nearby: %+v (far report %d must be excluded)", near, far.ID)
			}
			var pub []PublicView
			mustJSONDecode(t, e.get("/api/v1/reports/map").body, &pub)
			if len(pub) != 1 || pub[0].ID != a.ID {
				t.Fatalf("public map shows untriaged reports: %+v", pub)
			}
			if r := e.get("/api/v1/reports"); r.status != http.StatusUnauthorized {
				t.Fatalf("operator list without actor: %d", r.status)
			}
		})
	}
}
