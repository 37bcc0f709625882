package report

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestResultsAndSatisfaction: the operator resolves with a published result; the citizen with the
// tracking code sees it, rates it once (not before it is resolved), and, not satisfied, reopens it
// with a reason; the ratings count per unit and area in the KPI (a reopened report keeps its
// latest rating until it is resolved again).
func TestResultsAndSatisfaction(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
			e.clock.Set(vnTime("2026-03-10 08:00"))
			from := e.clock.Now()
			resolve := func(id int64, result string, publish bool) {
				t.Helper()
				for _, to := range []Status{StatusTriaged, StatusAssigned, StatusResolved} {
					mv := Move{To: to}
					if to == StatusResolved {
						mv.Note, mv.PublicNote = result, publish
					}
					if _, err := e.svc.Transition(t.Context(), id, "op", mv); err != nil {
						t.Fatal(err)
					}
				}
			}
			rate := func(code, body string) resp {
				return e.do("POST", "/api/v1/reports/track/"+code+"/rating", "application/json", strings.NewReader(body), nil)
			}
			_, a := e.submit(nil, nil)
			_, b := e.submit(map[string]string{"lon": "106.30"}, nil)
			if r := rate(a.Code, `{"rating":"hai_long"}`); r.status != http.StatusConflict {
				t.Fatalf("rating an open report: %d %s, want 409", r.status, r.body)
			}
			resolve(a.ID, "Đã thu gom rác, vệ sinh khu vực lúc 10:00", true)
			resolve(b.ID, "ghi chú nội bộ: đội 2 xử lý", false)

			var v PublicView
			mustJSONDecode(t, e.get("/api/v1/reports/track/"+a.Code).body, &v)
			if v.Result != "Đã thu gom rác, vệ sinh khu vực lúc 10:00" || v.Rating != "" {
				t.Fatalf("published result: %+v", v)
			}
			if tr := e.get("/api/v1/reports/track/" + b.Code); strings.Contains(tr.body, "đội 2") {
				t.Fatalf("an unpublished result is shown: %s", tr.body)
			}
			if m := e.get("/api/v1/reports/map"); !strings.Contains(m.body, "Đã thu gom rác") || strings.Contains(m.body, "đội 2") {
				t.Errorf("public map results: %s", m.body)
			}

			for _, tc := range []struct {
				name, code, body string
				status           int
			}{
				{"unknown rating", a.Code, `{"rating":"tam_duoc"}`, 400},
				{"satisfied", a.Code, `{"rating":"hai_long","note":"cảm ơn"}`, 200},
				{"only once", a.Code, `{"rating":"chua_hai_long"}`, 409},
				{"not satisfied", b.Code, `{"rating":"chua_hai_long","note":"rác vẫn còn"}`, 200},
			} {
				if r := rate(tc.code, tc.body); r.status != tc.status {
					t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
				}
			}
			mustJSONDecode(t, e.get("/api/v1/reports/track/"+a.Code).body, &v)
			if v.Rating != RatingSatisfied {
				t.Errorf("rating on the tracking page: %q", v.Rating)
			}
			h := e.operatorGet(b.ID).History
			if last := h[len(h)-1]; last.Actor != "citizen" || !strings.Contains(last.Note, "chưa hài lòng") || !strings.Contains(last.Note, "rác vẫn còn") || last.Public {
				t.Errorf("rating history entry: %+v", last)
			}

			// Not satisfied: a reopen needs a reason; then the report is rated again after its next resolution.
			reopen := func(body string) resp {
				return e.do("POST", "/api/v1/reports/track/"+b.Code+"/reopen", "application/json", strings.NewReader(body), nil)
			}
			if r := reopen(`{"note":"  "}`); r.status != 400 || !strings.Contains(r.body, "lý do") {
				t.Errorf("reopen without a reason: %d %s", r.status, r.body)
			}
			if r := reopen(`{"note":"rác vẫn còn ở đầu hẻm"}`); r.status != 200 || !strings.Contains(r.body, `"status":"reopened"`) || strings.Contains(r.body, `"rating"`) {
				t.Errorf("reopen: %d %s", r.status, r.body)
			}

			e.clock.Advance(time.Hour)
			for _, tc := range []struct {
				by   string
				want map[string][2]int // key → satisfied, unsatisfied
			}{
				{ByUnit, map[string][2]int{"Công ty Cổ phần Công trình Đô thị Bến Tre": {1, 0}, "Ban Quản lý Công trình công cộng huyện Châu Thành": {0, 1}}},
				{ByArea, map[string][2]int{"829": {1, 0}, "831": {0, 1}}},
				{ByTotal, map[string][2]int{"": {1, 1}}},
			} {
				rows, err := e.svc.KPI(t.Context(), from, e.clock.Now(), tc.by)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string][2]int{}
				for _, r := range rows {
					got[r.Key] = [2]int{r.Satisfied, r.Unsatisfied}
					if r.Key == "" && r.SatisfiedPct != 50 {
						t.Errorf("satisfied_pct %v, want 50", r.SatisfiedPct)
					}
				}
				for k, w := range tc.want {
					if got[k] != w {
						t.Errorf("by %q: %s = %v, want %v (all: %v)", tc.by, k, got[k], w, got)
					}
				}
			}
		})
	}
}
