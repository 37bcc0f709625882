// Package briefing produces the leaders' scheduled reports ("báo cáo"): daily (17:00 by default),
// weekly and monthly, for the province or for each area of a level, rendered as PDF (the indicator
// table in colours and a trend chart) and XLSX (one sheet per table), archived, and delivered by
// e-mail over SMTP or into a local outbox directory. Delivery runs behind a bounded queue with
// retries and backoff, apart from ingest.
package briefing

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"time"
)

// Kinds of schedule and the indicator period each reports on.
const (
	Daily   = "daily"   // the day the report runs on, up to the run time
	Weekly  = "weekly"  // the last complete ISO week
	Monthly = "monthly" // the last complete month
)

// Config is the briefings: section.
type Config struct {
	// Archive is the directory every produced report is kept in; default "briefings" beside the store.
	Archive string `yaml:"archive"`
	// Outbox receives each message as an .eml file when smtp.host is empty (the demo); default
	// "outbox" beside the store.
	Outbox    string        `yaml:"outbox"`
	SMTP      SMTP          `yaml:"smtp"`
	Queue     int           `yaml:"queue"`    // deliveries waiting; a full queue drops and counts
	Attempts  int           `yaml:"attempts"` // tries per delivery before it is given up (and alarmed in the log)
	Backoff   time.Duration `yaml:"backoff"`  // wait before the second try, doubled after each failure
	Schedules []Schedule    `yaml:"schedules"`
}

// SMTP is the mail server; an empty host writes to the outbox instead.
type SMTP struct {
	Host     string        `yaml:"host"`
	Port     int           `yaml:"port"`     // 587 by default
	TLS      string        `yaml:"tls"`      // starttls (default: required) | none (only on loopback)
	Username string        `yaml:"username"` // empty: no authentication
	Password string        `yaml:"password"` // or IOC_BRIEFINGS_SMTP_PASSWORD_FILE
	From     string        `yaml:"from"`     // "IOC Bến Tre <ioc@bentre.gov.vn>"
	Timeout  time.Duration `yaml:"timeout"`  // per connection and command
	// CAFile is a PEM file of the CAs to trust for STARTTLS (empty: the system's).
	CAFile string `yaml:"ca_file"`
}

// Schedule is one scheduled report.
type Schedule struct {
	Name    string `yaml:"name"`
	Kind    string `yaml:"kind"`    // daily | weekly | monthly
	At      string `yaml:"at"`      // HH:MM in Asia/Ho_Chi_Minh; 17:00 for daily, 08:00 otherwise
	Weekday string `yaml:"weekday"` // weekly: monday … sunday (default monday)
	Day     int    `yaml:"day"`     // monthly: day of the month 1–28 (default 1)
	// Level is "province" (one report) or "district"/"commune" (one report per area of the level).
	Level      string              `yaml:"level"`
	Recipients []string            `yaml:"recipients"` // every report of the schedule
	PerArea    map[string][]string `yaml:"per_area"`   // more recipients by area code
	Trend      string              `yaml:"trend"`      // indicator code of the trend chart (default: the first)
}

// Defaults are the briefing defaults: outbox delivery, five tries from 30 s apart, a queue of 256.
func Defaults() Config {
	return Config{Queue: 256, Attempts: 5, Backoff: 30 * time.Second,
		SMTP: SMTP{Port: 587, TLS: "starttls", Timeout: 30 * time.Second}}
}

var (
	atRE   = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// Weekdays by name.
var Weekdays = map[string]time.Weekday{"monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday, "sunday": time.Sunday}

// Levels a schedule can report for.
var Levels = []string{"province", "district", "commune"}

// WithDefaults fills a schedule's unset fields.
func (s Schedule) WithDefaults() Schedule {
	if s.At == "" {
		s.At = "08:00"
		if s.Kind == Daily {
			s.At = "17:00"
		}
	}
	if s.Kind == Weekly && s.Weekday == "" {
		s.Weekday = "monday"
	}
	if s.Kind == Monthly && s.Day == 0 {
		s.Day = 1
	}
	if s.Level == "" {
		s.Level = "province"
	}
	return s
}

// Validate reports every problem with its key path under prefix ("briefings"); indicator codes are
// checked against known when it is not nil.
func (c Config) Validate(prefix string, known func(code string) bool) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, args...)))
	}
	if c.Queue < 1 || c.Queue > 100000 {
		add("queue", "must be between 1 and 100000")
	}
	if c.Attempts < 1 || c.Attempts > 50 {
		add("attempts", "must be between 1 and 50")
	}
	if c.Backoff < 100*time.Millisecond {
		add("backoff", "must be at least 100ms")
	}
	if c.SMTP.Host != "" {
		if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
			add("smtp.port", "must be between 1 and 65535")
		}
		if c.SMTP.TLS != "starttls" && c.SMTP.TLS != "none" {
			add("smtp.tls", "must be starttls or none, not %q", c.SMTP.TLS)
		}
		if c.SMTP.TLS == "none" && c.SMTP.Username != "" {
			add("smtp.tls", "none would send the password in clear: use starttls with a username")
		}
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			add("smtp.from", "%q is not an address: %v", c.SMTP.From, err)
		}
		if c.SMTP.Timeout < time.Second {
			add("smtp.timeout", "must be at least 1s")
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Schedules {
		p := fmt.Sprintf("schedules[%d]", i)
		if s.Name != "" {
			p += " (" + s.Name + ")"
		}
		s = s.WithDefaults()
		if !nameRE.MatchString(s.Name) {
			add(p+".name", "must be 1-64 lowercase letters, digits, _ or -")
		} else if seen[s.Name] {
			add(p+".name", "duplicate schedule %q", s.Name)
		}
		seen[s.Name] = true
		if s.Kind != Daily && s.Kind != Weekly && s.Kind != Monthly {
			add(p+".kind", "must be daily, weekly or monthly, not %q", s.Kind)
		}
		if !atRE.MatchString(s.At) {
			add(p+".at", "%q is not a time of day HH:MM", s.At)
		}
		if _, ok := Weekdays[s.Weekday]; s.Kind == Weekly && !ok {
			add(p+".weekday", "%q is not a day of the week (monday … sunday)", s.Weekday)
		}
		if s.Kind == Monthly && (s.Day < 1 || s.Day > 28) {
			add(p+".day", "must be between 1 and 28")
		}
		if !slices.Contains(Levels, s.Level) {
			add(p+".level", "unknown area level %q (one of %v)", s.Level, Levels)
		}
		if len(s.Recipients) == 0 && len(s.PerArea) == 0 {
			add(p+".recipients", "must list at least one address (or per_area)")
		}
		for j, r := range s.Recipients {
			if _, err := mail.ParseAddress(r); err != nil {
				add(fmt.Sprintf("%s.recipients[%d]", p, j), "%q is not an address", r)
			}
		}
		for area, rs := range s.PerArea {
			for j, r := range rs {
				if _, err := mail.ParseAddress(r); err != nil {
					add(fmt.Sprintf("%s.per_area.%s[%d]", p, area, j), "%q is not an address", r)
				}
			}
		}
		if s.Trend != "" && known != nil && !known(s.Trend) {
			add(p+".trend", "unknown indicator %q", s.Trend)
		}
	}
	return errors.Join(errs...)
}

// Period is the indicator period a schedule kind reports on.
func Period(kind string) string {
	switch kind {
	case Weekly:
		return "week"
	case Monthly:
		return "month"
	}
	return "day"
}

// Next is the first run of s strictly after t, in loc.
func (s Schedule) Next(t time.Time, loc *time.Location) time.Time {
	s = s.WithDefaults()
	at, err := time.Parse("15:04", s.At)
	if err != nil { // refused by Validate
		return time.Time{}
	}
	hh, mm := at.Hour(), at.Minute()
	t = t.In(loc)
	y, m, d := t.Date()
	for i := 0; i < 400; i++ {
		c := time.Date(y, m, d+i, hh, mm, 0, 0, loc)
		if !c.After(t) {
			continue
		}
		switch s.Kind {
		case Weekly:
			if c.Weekday() != Weekdays[s.Weekday] {
				continue
			}
		case Monthly:
			if c.Day() != s.Day {
				continue
			}
		}
		return c
	}
	return time.Time{}
}
