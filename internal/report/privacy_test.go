package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOnlyPublishedNotesArePublic moves a report with an internal note, a published one, and a
// citizen's reopen note with a phone number in it: the tracking page and Open311 (status_notes,
// the extensions' notes, list and single request) show only the published note and the "received"
// text; operators see every note with its public flag.
func TestOnlyPublishedNotesArePublic(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			_, a := e.submit(nil, nil)
			id := strconv.FormatInt(a.ID, 10)
			const internal, published, citizen = "nội bộ: gọi ông Tư 0913000111", "đã giao đội vệ sinh xử lý", "vẫn còn rác, gọi tôi 0909777888"
			for _, mv := range []string{
				`{"to":"triaged","note":"` + internal + `"}`,
				`{"to":"assigned","note":"` + published + `","public_note":true}`,
				`{"to":"resolved"}`,
			} {
				if r := e.operator("POST", "/api/v1/reports/"+id+"/transition", mv); r.status != 200 {
					t.Fatalf("%s: %d %s", mv, r.status, r.body)
				}
			}
			if r := e.do("POST", "/api/v1/reports/track/"+a.Code+"/reopen", "application/json", strings.NewReader(`{"note":"`+citizen+`"}`), nil); r.status != 200 {
				t.Fatalf("reopen: %d %s", r.status, r.body)
			}
			for _, path := range []string{
				"/api/v1/reports/track/" + a.Code,
				"/open311/v2/requests/" + id + ".json?extensions=true",
				"/open311/v2/requests/" + id + ".xml?extensions=true",
				"/open311/v2/requests.json?extensions=true",
			} {
				r := e.get(path)
				if r.status != 200 || !strings.Contains(r.body, published) || !strings.Contains(r.body, "đã tiếp nhận") {
					t.Errorf("%s: %d, want the published note: %s", path, r.status, r.body)
				}
				for _, secret := range []string{internal, citizen} {
					if strings.Contains(r.body, secret) {
						t.Errorf("%s shows the internal note %q: %s", path, secret, r.body)
					}
				}
			}
			var o311 []o311Request
			mustJSONDecode(t, e.get("/open311/v2/requests/"+id+".json").body, &o311)
			if o311[0].StatusNotes != published {
				t.Errorf("status_notes %q, want the last published note", o311[0].StatusNotes)
			}
			g := e.operator("GET", "/api/v1/reports/"+id, "")
			for _, want := range []string{internal, citizen, published, `"public":true`, `"public":false`} {
				if !strings.Contains(g.body, want) {
					t.Errorf("operator view lacks %q: %s", want, g.body)
				}
			}
		})
	}
}

func TestNewCodeIsLongAndUniform(t *testing.T) {
	bits := float64(codeLen) * math.Log2(float64(len(codeAlphabet)))
	if codeLen < 10 || bits < 50 {
		t.Fatalf("%d characters of %d: %.1f bits, want ≥ 10 characters and ≥ 50 bits", codeLen, len(codeAlphabet), bits)
	}
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 3000 {
		c := NewCode("BT")
		if !ValidCode(c) || len(c) != len("BT-7K3Q-9XAB-M4TZ") || seen[c] {
			t.Fatalf("code %q: valid %v, seen %v", c, ValidCode(c), seen[c])
		}
		seen[c] = true
		for _, x := range strings.ReplaceAll(c[3:], "-", "") {
			counts[x]++
		}
	}
	// 36,000 characters over 30 symbols: 1,200 each on average.
	for _, x := range codeAlphabet {
		if n := counts[x]; n < 1000 || n > 1400 {
			t.Errorf("symbol %c drawn %d times of 36,000, want about 1,200", x, n)
		}
	}
	for _, c := range []string{"BT-7K3Q9X", "bt 7k3q9x", "bt-7k3q-9xab-m4tz", " BT-7K3Q 9XAB-M4TZ", "BT7K3Q9XABM4TZ"} {
		if !ValidCode(NormalizeCode(c)) {
			t.Errorf("%q is not taken as a code", c)
		}
	}
}

// TestTrackingCodeGuessesAreLimitedPerSubnet guesses codes from ten addresses of one IPv6 /64:
// after track_failures.burst wrong codes every lookup from the /64 is 429 (also a right code, also
// reopen and Open311 tokens), another /64 is served, and one more try is allowed a minute later. A
// report filed with an old six-character code is still found; the holder of a code sees no
// description or address before the report is public.
func TestTrackingCodeGuessesAreLimitedPerSubnet(t *testing.T) {
	e := newEnv(t, DriverSQLite, nil)
	_, a := e.submit(nil, nil)
	from := func(ip string) map[string]string { return map[string]string{"X-Test-Client-IP": ip} }
	track := func(code, ip string) resp { return e.do("GET", "/api/v1/reports/track/"+code, "", nil, from(ip)) }
	for i := range 10 {
		if r := track(NewCode("BT"), fmt.Sprintf("2001:db8:1:2::%x", i+1)); r.status != 404 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	for name, r := range map[string]resp{
		"wrong code":     track("BT-2222-2222-2222", "2001:db8:1:2:ffff::1"),
		"right code":     track(a.Code, "2001:db8:1:2::99"),
		"malformed code": track("x", "2001:db8:1:2::98"),
		"reopen":         e.do("POST", "/api/v1/reports/track/"+a.Code+"/reopen", "application/json", strings.NewReader(`{"note":"x"}`), from("2001:db8:1:2::97")),
		"open311 token":  e.do("GET", "/open311/v2/tokens/"+a.Code+".json", "", nil, from("2001:db8:1:2::96")),
	} {
		if r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s from the /64 after 10 misses: %d %s, want 429 with Retry-After", name, r.status, r.body)
		}
	}
	if r := track(a.Code, "2001:db8:1:3::1"); r.status != 200 {
		t.Fatalf("right code from another /64: %d %s", r.status, r.body)
	} else if strings.Contains(r.body, "Rác đổ trộm") || strings.Contains(r.body, `"description"`) {
		t.Fatalf("the holder of a code sees the description of a report not yet public: %s", r.body)
	}
	if n := testutil.ToFloat64(e.svc.m.trackFailures); n != 10 {
		t.Errorf("failures counted: %v, want 10", n)
	}
	e.clock.Advance(time.Minute)
	if r := track(a.Code, "2001:db8:1:2::1"); r.status != 200 {
		t.Fatalf("a minute later: %d %s", r.status, r.body)
	}

	// A report filed before the codes grew keeps its code.
	old := Report{Code: "BT-7K3Q9X", Service: "RAC_THAI", Status: StatusNew, Description: "cũ", Location: [2]float64{106.37, 10.24},
		Client: "web", Created: testStart, Updated: testStart, Due: testStart.Add(time.Hour)}
	if _, _, err := e.store.Create(t.Context(), old, "", Entry{At: testStart, Actor: "citizen:web", To: StatusNew}); err != nil {
		t.Fatal(err)
	}
	if r := track("bt-7k3q9x", "198.51.100.7"); r.status != 200 || !strings.Contains(r.body, `"code":"BT-7K3Q9X"`) {
		t.Fatalf("old code: %d %s", r.status, r.body)
	}
}

// TestPhotoReadsCheckTheReport reads a photo of a report before triage (404 to anyone without a
// right to it; staff and the tracking-code holder's expiring link get it with private caching),
// after triage (public, briefly cached) and after rejection (404 again), on both databases.
func TestPhotoReadsCheckTheReport(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			_, a := e.submit(nil, nil, upload{"p.jpg", testJPEG(t, 64, 48)})
			rep, _, err := e.svc.Track(t.Context(), a.Code)
			if err != nil || len(rep.Photos) != 1 {
				t.Fatalf("photos: %v %+v", err, rep.Photos)
			}
			path := "/api/v1/reports/photos/" + rep.Photos[0]
			var tracked trackView
			mustJSONDecode(t, e.get("/api/v1/reports/track/"+a.Code).body, &tracked)
			if len(tracked.Photos) != 1 || !strings.Contains(tracked.Photos[0], path+"?t=") {
				t.Fatalf("tracking view photos %v, want a link to %s", tracked.Photos, path)
			}
			link := strings.TrimPrefix(tracked.Photos[0], "https://ioc.example.vn")
			query := link[strings.Index(link, "?"):]
			check := func(name string, r resp, status int, cache string) {
				t.Helper()
				if r.status != status || (status == 200 && r.header.Get("Cache-Control") != cache) {
					t.Errorf("%s: %d %q, want %d %q", name, r.status, r.header.Get("Cache-Control"), status, cache)
				}
			}
			check("anonymous before triage", e.get(path), 404, "")
			check("anonymous thumbnail before triage", e.get(path+"/thumb"), 404, "")
			check("forged link", e.get(path+"?t=9999999999.AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "")
			check("staff before triage", e.operator("GET", path, ""), 200, "private, max-age=300")
			check("holder's link", e.get(link), 200, "private, max-age=300")
			check("holder's link, thumbnail", e.get(path+"/thumb"+query), 200, "private, max-age=300")
			check("another photo with the link", e.get("/api/v1/reports/photos/0123456789abcdef0123456789abcdef"+query), 404, "")
			e.clock.Advance(3 * time.Hour)
			check("expired link", e.get(link), 404, "")

			id := strconv.FormatInt(a.ID, 10)
			if r := e.operator("POST", "/api/v1/reports/"+id+"/transition", `{"to":"triaged"}`); r.status != 200 {
				t.Fatalf("triage: %d %s", r.status, r.body)
			}
			check("anonymous after triage", e.get(path), 200, "public, max-age=300")
			if r := e.operator("POST", "/api/v1/reports/"+id+"/transition", `{"to":"rejected"}`); r.status != 200 {
				t.Fatalf("reject: %d %s", r.status, r.body)
			}
			check("anonymous after rejection", e.get(path), 404, "")
		})
	}
}
