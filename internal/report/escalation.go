package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// EscalationConfig says who is told when a report nears or passes a deadline (docs/REPORTS.md).
type EscalationConfig struct {
	// Supervisors maps a unit to the office above it (cấp trên), told at the deadline; "default"
	// is the supervisor of every other unit.
	Supervisors map[string]string `yaml:"supervisors"`
	IOC         string            `yaml:"ioc"`       // told last
	IOCAfter    time.Duration     `yaml:"ioc_after"` // working time past a deadline before the IOC is told
}

func (c *EscalationConfig) validate() []error {
	var errs []error
	if c.Supervisors[DefaultUnit] == "" {
		errs = append(errs, fmt.Errorf("escalation.supervisors: a %q supervisor is required", DefaultUnit))
	}
	if c.IOC == "" {
		errs = append(errs, errors.New("escalation.ioc: required"))
	}
	if c.IOCAfter <= 0 {
		errs = append(errs, errors.New("escalation.ioc_after: must be positive"))
	}
	return errs
}

// Escalation steps, in order, for each deadline of a report.
const (
	StepUnit       = 1 // warn_before the deadline: the unit handling it
	StepSupervisor = 2 // at the deadline: the unit's supervisor
	StepIOC        = 3 // ioc_after past the deadline: the IOC
)

// Deadline kinds a report escalates for: receipt while it is new, handling after.
const (
	DeadlineReceive = "receive"
	DeadlineHandle  = "handle"
)

// Escalation is one step told to its recipient. It carries no contact data and no tracking code.
type Escalation struct {
	Step       int               `json:"step"`        // StepUnit, StepSupervisor or StepIOC
	To         string            `json:"to"`          // unit, supervisor or ioc
	Recipient  string            `json:"recipient"`   // the unit or office named
	Deadline   string            `json:"deadline"`    // DeadlineReceive or DeadlineHandle
	DeadlineAt time.Time         `json:"deadline_at"` // RFC 3339 in the report zone
	At         time.Time         `json:"at"`
	ReportID   int64             `json:"report_id"`
	Service    string            `json:"service_code"`
	Severity   string            `json:"severity"`
	Unit       string            `json:"unit"`
	Areas      map[string]string `json:"areas,omitempty"`
}

// Notifier delivers escalation steps through the alarm notification channels (webhook, MQTT). It
// must not block for long: it hands the step to its channels' queues and returns an error only when
// it could not take it; then the step is not recorded and is tried again at the next pass (so a
// step may be delivered twice, never lost). Implementations are safe for concurrent use.
type Notifier interface {
	NotifyEscalation(ctx context.Context, e Escalation) error
}

// pending is the deadline a report escalates for now: receipt while new, then handling; none when
// the report is no longer open.
func pending(r *Report) (string, time.Time) {
	switch {
	case !r.Status.Open():
		return "", time.Time{}
	case r.Status == StatusNew && !r.ReceiveDue.IsZero():
		return DeadlineReceive, r.ReceiveDue
	}
	return DeadlineHandle, r.Due
}

// planEscalation sets when r's next escalation step is due. The steps start again for each new
// deadline (received, re-classed, reassigned, reopened).
func (s *Service) planEscalation(r *Report) {
	_, d := pending(r)
	if d.IsZero() {
		r.NextEscalation = time.Time{}
		return
	}
	if !r.EscalationFor.Equal(d) {
		r.EscalationLevel, r.EscalationFor = 0, d
	}
	c := s.classOf(r)
	cal := s.calendar(r.Unit)
	switch r.EscalationLevel {
	case 0:
		r.NextEscalation = cal.Sub(d, c.Warn).UTC()
	case StepUnit:
		r.NextEscalation = d
	case StepSupervisor:
		r.NextEscalation = cal.Add(d, s.cfg.Escalation.IOCAfter).UTC()
	default:
		r.NextEscalation = time.Time{}
	}
}

// recipient names who is told at a step.
func (s *Service) recipient(step int, unit string) (to, name string) {
	switch step {
	case StepUnit:
		return "unit", unit
	case StepSupervisor:
		if sup := s.cfg.Escalation.Supervisors[unit]; sup != "" {
			return "supervisor", sup
		}
		return "supervisor", s.cfg.Escalation.Supervisors[DefaultUnit]
	}
	return "ioc", s.cfg.Escalation.IOC
}

var deadlineNames = map[string]string{DeadlineReceive: "tiếp nhận / receive", DeadlineHandle: "xử lý / handle"}

func (s *Service) escalationNote(e Escalation) string {
	at := e.DeadlineAt.In(s.loc).Format("15:04 02/01/2006")
	switch e.Step {
	case StepUnit:
		return fmt.Sprintf("sắp đến hạn %s (%s), đã báo đơn vị %s / deadline near, unit notified", deadlineNames[e.Deadline], at, e.Recipient)
	case StepSupervisor:
		return fmt.Sprintf("quá hạn %s (%s), đã báo cấp trên %s / deadline passed, supervisor notified", deadlineNames[e.Deadline], at, e.Recipient)
	}
	return fmt.Sprintf("quá hạn %s (%s) %s giờ làm việc, đã báo %s / still overdue, the IOC notified", deadlineNames[e.Deadline], at,
		hours(s.cfg.Escalation.IOCAfter), e.Recipient)
}

func hours(d time.Duration) string { return fmt.Sprintf("%g", d.Hours()) }

// Escalate runs one escalation pass: every open report whose next step is due takes it (and the
// steps after it that are due too): the recipient is notified, then the step is a history entry by
// "system". Passing a deadline (the supervisor step) also marks the report escalated and calls
// OnOverdue.
func (s *Service) Escalate(ctx context.Context) error {
	now := s.d.Now().UTC()
	due, err := s.d.Store.Escalations(ctx, now, 500)
	if err != nil {
		return fmt.Errorf("find reports to escalate: %w", err)
	}
	for _, r := range due {
		if err := s.escalate(ctx, r, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) escalate(ctx context.Context, r Report, now time.Time) error {
	for range 3 {
		if r.NextEscalation.IsZero() || r.NextEscalation.After(now) {
			return nil
		}
		kind, d := pending(&r)
		e := Escalation{Step: r.EscalationLevel + 1, Deadline: kind, DeadlineAt: d.In(s.loc), At: now.In(s.loc),
			ReportID: r.ID, Service: r.Service, Severity: r.Severity, Unit: r.Unit, Areas: r.Areas}
		e.To, e.Recipient = s.recipient(e.Step, r.Unit)
		if err := s.d.Notifier.NotifyEscalation(ctx, e); err != nil {
			s.m.escalationFailed.Inc()
			s.d.Log.Warn("escalation not delivered, retried at the next pass", "report_id", r.ID, "step", e.Step, "error", err)
			return nil
		}
		r.EscalationLevel = e.Step
		if e.Step == StepSupervisor && r.Escalated.IsZero() {
			r.Escalated = now
		}
		out, err := s.save(ctx, r, "system", s.escalationNote(e), false)
		if errors.Is(err, ErrConflict) {
			return nil // changed meanwhile; the next pass sees it again
		}
		if err != nil {
			return err
		}
		s.m.escalated.WithLabelValues(out.Service, e.To).Inc()
		if e.Step == StepSupervisor {
			s.d.OnOverdue(out)
		}
		r = out
	}
	return nil
}

// warnUnknownUnits logs the units named in reports.calendar.units and reports.escalation.supervisors
// that no category of the catalogue routes to: most likely a typo, and then that override does
// nothing.
func warnUnknownUnits(log *slog.Logger, cat *Catalogue, cfg Config) {
	known := map[string]bool{DefaultUnit: true}
	for _, c := range cat.Services {
		for _, u := range c.Units {
			known[u] = true
		}
	}
	for _, list := range []struct {
		key   string
		names []string
	}{{"calendar.units", slices.Collect(maps.Keys(cfg.Calendar.Units))}, {"escalation.supervisors", slices.Collect(maps.Keys(cfg.Escalation.Supervisors))}} {
		slices.Sort(list.names)
		for _, n := range list.names {
			if !known[n] {
				log.Warn("unknown unit in the reports config: no category routes to it", "key", list.key, "unit", n)
			}
		}
	}
}
