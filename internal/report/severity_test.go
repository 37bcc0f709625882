package report

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/report/reporttest"
)

var hcm = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		panic(err)
	}
	return loc
}()

func vnTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, hcm)
	if err != nil {
		panic(err)
	}
	return t
}

type operatorView struct {
	Report  Report  `json:"report"`
	History []Entry `json:"history"`
	Overdue bool    `json:"overdue"`
}

func (e *env) operatorGet(id int64) operatorView {
	e.t.Helper()
	r := e.operator("GET", fmt.Sprintf("/api/v1/reports/%d", id), "")
	if r.status != http.StatusOK {
		e.t.Fatalf("get report %d: %d %s", id, r.status, r.body)
	}
	var v operatorView
	mustJSONDecode(e.t, r.body, &v)
	return v
}

func sameTime(t *testing.T, what string, got time.Time, want string) {
	t.Helper()
	if !got.Equal(vnTime(want)) {
		t.Errorf("%s = %s, want %s +07:00", what, got.In(hcm).Format(time.RFC3339), want)
	}
}

// TestSeverityDeadlinesInWorkingTime: a report filed on the Friday afternoon before Tết Bính Ngọ
// gets its class from its category and deadlines counted in working time across Tết; the intake
// operator changes the class with a reason, the deadlines follow, and the reason stays internal.
func TestSeverityDeadlinesInWorkingTime(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, nil)
			e.clock.Set(vnTime("2026-02-13 15:00"))
			_, flood := e.submit(map[string]string{"category": "NGAP_NUOC", "attribute[volume]": ""}, nil)
			_, trash := e.submit(map[string]string{"device_id": "d2"}, nil)

			f := e.operatorGet(flood.ID).Report
			if f.Severity != "khan" {
				t.Fatalf("flooding report class %q, want khan", f.Severity)
			}
			sameTime(t, "urgent receive_due", f.ReceiveDue, "2026-02-13 16:00")
			sameTime(t, "urgent due", f.Due, "2026-02-23 09:30")                // 2 h on Friday, 2 h after Tết
			sameTime(t, "urgent respond_due", f.RespondDue, "2026-02-23 15:00") // one working day

			g := e.operatorGet(trash.ID).Report
			if g.Severity != "binh_thuong" {
				t.Fatalf("garbage report class %q, want binh_thuong", g.Severity)
			}
			sameTime(t, "normal receive_due", g.ReceiveDue, "2026-02-23 15:30") // 8 working hours
			sameTime(t, "normal due", g.Due, "2026-02-27 15:00")                // 5 working days

			for _, tc := range []struct{ name, body, want string }{
				{"no reason", `{"severity":"khan","reason":"  "}`, "reason: required"},
				{"unknown class", `{"severity":"cuc_khan","reason":"x"}`, "unknown class"},
			} {
				r := e.operator("POST", fmt.Sprintf("/api/v1/reports/%d/severity", trash.ID), tc.body)
				if r.status != http.StatusBadRequest || !strings.Contains(r.body, tc.want) {
					t.Errorf("%s: %d %s, want 400 %q", tc.name, r.status, r.body, tc.want)
				}
			}
			e.clock.Set(vnTime("2026-02-13 15:10"))
			reason := "Rác chặn cống thoát nước trước trường học"
			r := e.operator("POST", fmt.Sprintf("/api/v1/reports/%d/severity", trash.ID), `{"severity":"khan","reason":"`+reason+`"}`)
			if r.status != http.StatusOK {
				t.Fatalf("change class: %d %s", r.status, r.body)
			}
			v := e.operatorGet(trash.ID)
			if v.Report.Severity != "khan" {
				t.Fatalf("class after change %q", v.Report.Severity)
			}
			sameTime(t, "raised due", v.Report.Due, "2026-02-23 09:30") // counted from filing, not from the change
			last := v.History[len(v.History)-1]
			if last.Actor != "op.nguyen" || !strings.Contains(last.Note, reason) || !strings.Contains(last.Note, "Bình thường / Normal → Khẩn / Urgent") ||
				last.Public || last.From != StatusNew || last.To != StatusNew {
				t.Fatalf("audit entry: %+v", last)
			}

			tr := e.get("/api/v1/reports/track/" + trash.Code)
			var pub PublicView
			mustJSONDecode(t, tr.body, &pub)
			if pub.Severity != "khan" || pub.SeverityName != "Khẩn / Urgent" || !pub.Due.Equal(vnTime("2026-02-23 09:30")) {
				t.Errorf("tracking view: %s", tr.body)
			}
			if strings.Contains(tr.body, reason) {
				t.Errorf("the internal reason is on the tracking page: %s", tr.body)
			}

			// Resolved: the class is settled.
			for _, to := range []string{"triaged", "assigned", "resolved"} {
				if _, err := e.svc.Transition(t.Context(), trash.ID, "op", Move{To: Status(to)}); err != nil {
					t.Fatal(err)
				}
			}
			if r := e.operator("POST", fmt.Sprintf("/api/v1/reports/%d/severity", trash.ID), `{"severity":"binh_thuong","reason":"x"}`); r.status != http.StatusConflict {
				t.Errorf("class change of a resolved report: %d %s, want 409", r.status, r.body)
			}
		})
	}
}

// TestReceiveDeadlineMakesOverdue: a report still "new" past its receive deadline is overdue;
// receiving it (triage) ends that, and the time of receipt is kept.
func TestReceiveDeadlineMakesOverdue(t *testing.T) {
	e := newEnv(t, DriverSQLite, nil)
	e.clock.Set(vnTime("2026-03-10 08:00"))
	_, s := e.submit(nil, nil)
	e.clock.Set(vnTime("2026-03-11 09:00")) // 7 h on Tuesday, 1 h 30 m on Wednesday
	if v := e.operatorGet(s.ID); !v.Overdue {
		t.Fatal("not overdue past the 8 working hours to receive")
	}
	if _, err := e.svc.Transition(t.Context(), s.ID, "op", Move{To: StatusTriaged}); err != nil {
		t.Fatal(err)
	}
	v := e.operatorGet(s.ID)
	if v.Overdue {
		t.Error("still overdue once received, long before its handling deadline")
	}
	sameTime(t, "received", v.Report.Received, "2026-03-11 09:00")
}

func TestSeverityConfigValidate(t *testing.T) {
	cfg := testConfig(t)
	cfg.Severities = []Severity{
		{Code: "khan", Name: "Khẩn", Receive: time.Hour, Handle: 4 * time.Hour, Respond: time.Hour},
		{Code: "khan", Receive: 0, Handle: -time.Hour, Respond: time.Hour, Warn: -time.Minute},
	}
	cfg.DefaultSeverity = "thuong"
	err := cfg.Validate()
	for _, want := range []string{
		"severities[0] (khan): respond: must be at least handle (4h0m0s)",
		"severities[1] (khan): code: duplicate",
		"severities[1] (khan): name: required",
		"severities[1] (khan): receive: must be a positive duration",
		"severities[1] (khan): handle: must be a positive duration",
		"severities[1] (khan): warn_before: must not be negative",
		`default_severity: "thuong" is not one of the severities`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// newBareService builds a service on SQLite with cfg and a logger writing to log.
func newBareService(t *testing.T, cfg Config, cat *Catalogue, now time.Time, log *bytes.Buffer) (*Service, error) {
	t.Helper()
	return New(cfg, Deps{Store: openTestStore(t, DriverSQLite), Catalogue: cat, Locate: reporttest.Locate,
		Photos: &photo.Store{Blobs: &photo.Disk{Dir: filepath.Join(t.TempDir(), "p")}, Limits: photo.DefaultLimits()},
		Log:    slog.New(slog.NewTextHandler(log, nil)), Now: func() time.Time { return now }})
}

// TestStartupChecksTheCalendar: a category naming an unknown class is refused; a year without a
// holiday list is a warning at startup, a listed one is not; so is a unit no category routes to.
func TestStartupChecksTheCalendar(t *testing.T) {
	cfg := testConfig(t)
	cat, err := LoadCatalogue(cfg.Catalogue)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := newBareService(t, cfg, cat, vnTime("2026-05-01 09:00"), &log); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "no holiday list") {
		t.Errorf("warning although 2026 and 2027 are listed: %s", log.String())
	}
	log.Reset()
	if _, err := newBareService(t, cfg, cat, vnTime("2027-06-01 09:00"), &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "no holiday list") || !strings.Contains(log.String(), "2028") {
		t.Errorf("no warning for 2028: %q", log.String())
	}
	log.Reset()
	typo := cfg
	typo.Escalation.Supervisors = map[string]string{DefaultUnit: "UBND tỉnh", "Phòng Quản lý đô thị TP Bến Tre": "UBND TP"}
	if _, err := newBareService(t, typo, cat, vnTime("2026-05-01 09:00"), &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "unknown unit") || !strings.Contains(log.String(), "Phòng Quản lý đô thị TP Bến Tre") {
		t.Errorf("no warning for a unit no category routes to: %q", log.String())
	}

	bad := *cat
	bad.Services = append([]Category(nil), cat.Services...)
	bad.Services[1].Severity = "cuc_khan"
	if _, err := newBareService(t, cfg, &bad, vnTime("2026-05-01 09:00"), &log); err == nil ||
		!strings.Contains(err.Error(), `services[1] (NGAP_NUOC): severity: "cuc_khan" is not one of reports.severities`) {
		t.Errorf("unknown class in the catalogue: %v", err)
	}
	cfg.Calendar.Holidays = filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := newBareService(t, cfg, cat, vnTime("2026-05-01 09:00"), &log); err == nil || !strings.Contains(err.Error(), "read holiday list") {
		t.Errorf("missing holiday list: %v", err)
	}
}
