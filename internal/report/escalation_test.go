package report

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// escalateAt moves the clock to a local time and runs one escalation pass.
func (e *env) escalateAt(at string) {
	e.t.Helper()
	e.clock.Set(vnTime(at))
	if err := e.svc.Escalate(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) toldSteps() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.told {
		out = append(out, fmt.Sprintf("%s/%d %s %s", s.Deadline, s.Step, s.To, s.Recipient))
	}
	return out
}

// TestEscalationSteps: an urgent report filed on Tuesday 10 March 2026 at 08:00 (receive within 1
// working hour, handle within 4) warns its unit 30 minutes before the receive deadline, tells the
// supervisor at it and the IOC 4 working hours later (after lunch); once received, its handling
// deadline (already past) escalates at once. Every step is in the history, none on the tracking page.
func TestEscalationSteps(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) {
				c.Escalation.Supervisors = map[string]string{DefaultUnit: "Sở Xây dựng", "Phòng Quản lý đô thị Thành phố Bến Tre": "UBND Thành phố Bến Tre"}
				c.Escalation.IOC = "Trung tâm IOC Bến Tre"
			})
			e.clock.Set(vnTime("2026-03-10 08:00"))
			_, flood := e.submit(map[string]string{"category": "NGAP_NUOC", "attribute[volume]": ""}, nil)
			unit := "unit Phòng Quản lý đô thị Thành phố Bến Tre"
			for _, step := range []struct {
				at   string
				want []string
			}{
				{"2026-03-10 08:29", nil},
				{"2026-03-10 08:30", []string{"receive/1 " + unit}},
				{"2026-03-10 08:59", nil},
				{"2026-03-10 09:00", []string{"receive/2 supervisor UBND Thành phố Bến Tre"}},
				{"2026-03-10 14:59", nil}, // 4 working hours after 09:00 is 15:00
				{"2026-03-10 15:00", []string{"receive/3 ioc Trung tâm IOC Bến Tre"}},
				{"2026-03-10 16:00", nil},
			} {
				before := len(e.toldSteps())
				e.escalateAt(step.at)
				if got := e.toldSteps()[before:]; fmt.Sprint(got) != fmt.Sprint(step.want) {
					t.Fatalf("at %s told %v, want %v", step.at, got, step.want)
				}
			}
			if _, err := e.svc.Transition(t.Context(), flood.ID, "op", Move{To: StatusTriaged}); err != nil {
				t.Fatal(err)
			}
			e.escalateAt("2026-03-10 16:05") // handling was due at 14:00: unit and supervisor at once
			if got := e.toldSteps()[3:]; fmt.Sprint(got) != fmt.Sprint([]string{"handle/1 " + unit, "handle/2 supervisor UBND Thành phố Bến Tre"}) {
				t.Fatalf("after receipt told %v", got)
			}
			e.mu.Lock()
			overdue := len(e.overdue)
			e.mu.Unlock()
			if overdue != 2 {
				t.Errorf("OnOverdue called %d times, want once per deadline passed (2)", overdue)
			}

			v := e.operatorGet(flood.ID)
			var notes []string
			for _, h := range v.History {
				if h.Actor == "system" {
					notes = append(notes, h.Note)
				}
			}
			if len(notes) != 5 || !strings.Contains(notes[0], "sắp đến hạn tiếp nhận / receive (09:00 10/03/2026), đã báo đơn vị Phòng Quản lý đô thị") ||
				!strings.Contains(notes[1], "đã báo cấp trên UBND Thành phố Bến Tre") || !strings.Contains(notes[2], "4 giờ làm việc, đã báo Trung tâm IOC Bến Tre") ||
				!strings.Contains(notes[4], "quá hạn xử lý / handle (14:00 10/03/2026)") {
				t.Fatalf("history of escalation:\n%s", strings.Join(notes, "\n"))
			}
			if v.Report.EscalationLevel != StepSupervisor || v.Report.Escalated.IsZero() {
				t.Errorf("report after escalation: level %d escalated %v", v.Report.EscalationLevel, v.Report.Escalated)
			}
			if tr := e.get("/api/v1/reports/track/" + flood.Code); strings.Contains(tr.body, "cấp trên") || strings.Contains(tr.body, "IOC Bến Tre") {
				t.Errorf("escalation notes on the tracking page: %s", tr.body)
			}
		})
	}
}

// TestEscalationRetriesWhatTheNotifierRefused: a step the notifier does not take is not recorded
// and is taken at the next pass.
func TestEscalationRetriesWhatTheNotifierRefused(t *testing.T) {
	e := newEnv(t, DriverSQLite, nil)
	e.clock.Set(vnTime("2026-03-10 08:00"))
	_, s := e.submit(map[string]string{"category": "NGAP_NUOC", "attribute[volume]": ""}, nil)
	e.mu.Lock()
	e.refuse = errors.New("queue full")
	e.mu.Unlock()
	e.escalateAt("2026-03-10 08:45")
	if v := e.operatorGet(s.ID); v.Report.EscalationLevel != 0 || len(v.History) != 1 {
		t.Fatalf("a refused step was recorded: level %d, %d history entries", v.Report.EscalationLevel, len(v.History))
	}
	e.mu.Lock()
	e.refuse = nil
	e.mu.Unlock()
	e.escalateAt("2026-03-10 08:46")
	if got := e.toldSteps(); len(got) != 1 || !strings.HasPrefix(got[0], "receive/1 unit") {
		t.Fatalf("told %v after the notifier recovered", got)
	}
}

func TestEscalationConfigValidate(t *testing.T) {
	cfg := testConfig(t)
	cfg.Escalation = EscalationConfig{Supervisors: map[string]string{"x": "y"}}
	err := cfg.Validate()
	for _, want := range []string{`escalation.supervisors: a "default" supervisor is required`, "escalation.ioc: required", "escalation.ioc_after: must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
