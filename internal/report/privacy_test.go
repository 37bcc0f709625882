package report

import (
	"strconv"
	"strings"
	"testing"
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
