package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/ioc-vn/ioc/internal/report/worktime"
)

// Severity is a class of report (mức độ) with its deadlines, each counted in working time from the
// moment the report was filed, on the calendar of the unit that handles it.
type Severity struct {
	Code    string        `yaml:"code"`        // stable, in reports and the API: khan, phuc_tap, binh_thuong
	Name    string        `yaml:"name"`        // Vietnamese first, English second
	Receive time.Duration `yaml:"receive"`     // to receipt: an operator has looked at it (out of "new")
	Handle  time.Duration `yaml:"handle"`      // to resolution (the SLA of "đúng hạn")
	Respond time.Duration `yaml:"respond"`     // to the result published to the citizen (closed)
	Warn    time.Duration `yaml:"warn_before"` // escalation warns the unit this long (working time) before a deadline
}

// DefaultSeverities are the iHanoi classes. Receipt within 8 working hours and urgent handling
// within 4 working hours are iHanoi's rules; the others are ioc's choice, for a province to change:
// an urgent report is received within 1 working hour (it cannot be handled in 4 otherwise), a
// complex one is handled within 10 working days and a normal one within 5 (a working day of the
// default calendar is 7.5 h), and each result is published within one more working day.
func DefaultSeverities() []Severity {
	const day = 7*time.Hour + 30*time.Minute
	return []Severity{
		{Code: "khan", Name: "Khẩn / Urgent", Receive: time.Hour, Handle: 4 * time.Hour, Respond: day, Warn: 30 * time.Minute},
		{Code: "phuc_tap", Name: "Phức tạp / Complex", Receive: 8 * time.Hour, Handle: 10 * day, Respond: 11 * day, Warn: day},
		{Code: "binh_thuong", Name: "Bình thường / Normal", Receive: 8 * time.Hour, Handle: 5 * day, Respond: 6 * day, Warn: 4 * time.Hour},
	}
}

func validateSeverities(classes []Severity, def string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(classes) == 0 {
		bad("severities: at least one class is required")
	}
	seen := map[string]bool{}
	for i, c := range classes {
		p := fmt.Sprintf("severities[%d] (%s)", i, c.Code)
		errs = append(errs, checkNamed(p, c.Code, c.Name, seen)...)
		if c.Receive <= 0 {
			bad("%s: receive: must be a positive duration", p)
		}
		if c.Handle <= 0 {
			bad("%s: handle: must be a positive duration", p)
		}
		if c.Respond < c.Handle {
			bad("%s: respond: must be at least handle (%s)", p, c.Handle)
		}
		if c.Warn < 0 {
			bad("%s: warn_before: must not be negative", p)
		}
	}
	if !seen[def] {
		bad("default_severity: %q is not one of the severities", def)
	}
	return errs
}

// severity returns the class of a code, or false.
func (s *Service) severity(code string) (Severity, bool) {
	for _, c := range s.cfg.Severities {
		if c.Code == code {
			return c, true
		}
	}
	return Severity{}, false
}

// classOf is r's class, the default one for a class no longer configured.
func (s *Service) classOf(r *Report) Severity {
	if c, ok := s.severity(r.Severity); ok {
		return c
	}
	c, _ := s.severity(s.cfg.DefaultSeverity)
	return c
}

// calendar is the working-time calendar of a unit.
func (s *Service) calendar(unit string) *worktime.Calendar { return s.cal.For(unit) }

// setDeadlines computes r's receive, handle and respond deadlines from its creation, its class and
// its unit's calendar. A category's own sla replaces the class's handling time (respond keeps its
// margin after handling).
func (s *Service) setDeadlines(r *Report) {
	c := s.classOf(r)
	handle, respond := c.Handle, c.Respond
	if cat, ok := s.d.Catalogue.Category(r.Service); ok && cat.SLA > 0 {
		respond += cat.SLA - handle
		handle = cat.SLA
	}
	cal := s.calendar(r.Unit)
	r.ReceiveDue = cal.Add(r.Created, c.Receive).UTC()
	r.Due = cal.Add(r.Created, handle).UTC()
	r.RespondDue = cal.Add(r.Created, max(respond, handle)).UTC()
}

// setReopenDeadlines gives a reopened report a fresh handling time from its reopening, on its
// unit's calendar; receipt is already done.
func (s *Service) setReopenDeadlines(r *Report, now time.Time) {
	c := s.classOf(r)
	cal := s.calendar(r.Unit)
	r.Due = cal.Add(now, c.Handle).UTC()
	r.RespondDue = cal.Add(now, c.Respond).UTC()
}

// nopNotifier tells nobody.
type nopNotifier struct{}

func (nopNotifier) NotifyEscalation(context.Context, Escalation) error { return nil }

// categorySeverity is the class a new report of a category starts in.
func (s *Service) categorySeverity(cat *Category) string {
	if cat.Severity != "" {
		return cat.Severity
	}
	return s.cfg.DefaultSeverity
}

// SetSeverity changes a report's class on behalf of the intake operator actor, with a reason: its
// deadlines are computed again from its creation, and the change is a history entry (the audit).
func (s *Service) SetSeverity(ctx context.Context, id int64, actor, code, reason string) (Report, error) {
	c, ok := s.severity(code)
	if !ok {
		return Report{}, fmt.Errorf("%w: severity: unknown class %q", ErrInvalid, code)
	}
	if reason == "" || len(reason) > 2000 || !utf8.ValidString(reason) {
		return Report{}, fmt.Errorf("%w: reason: required, at most 2000 bytes of UTF-8", ErrInvalid)
	}
	for range 5 {
		r, err := s.d.Store.Get(ctx, id)
		if err != nil {
			return Report{}, fmt.Errorf("report %d: %w", id, err)
		}
		if !r.Status.Open() {
			return Report{}, &TransitionError{Reason: fmt.Sprintf("phản ánh đã đóng, không đổi mức độ / the report is %s: its class cannot change", r.Status)}
		}
		oldCode := r.Severity
		old, _ := s.severity(oldCode)
		r.Severity = c.Code
		s.setDeadlines(&r)
		note := fmt.Sprintf("đổi mức độ %s → %s / class changed: %s", nameOr(old.Name, oldCode), c.Name, reason)
		out, err := s.save(ctx, r, actor, note, false)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return out, err
	}
	return Report{}, fmt.Errorf("report %d: %w", id, ErrConflict)
}

func nameOr(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

// checkCategorySeverities reports categories that name a class the config does not have.
func checkCategorySeverities(cat *Catalogue, cfg Config) error {
	var errs []error
	for i, c := range cat.Services {
		if c.Severity == "" {
			continue
		}
		if !slices.ContainsFunc(cfg.Severities, func(s Severity) bool { return s.Code == c.Severity }) {
			errs = append(errs, fmt.Errorf("services[%d] (%s): severity: %q is not one of reports.severities", i, c.Code, c.Severity))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("service catalogue: %w", err)
	}
	return nil
}
