// Package worktime is the working-time calendar of Vietnamese state offices: working hours on
// working weekdays, public holidays and make-up working days (ngày làm bù) per year, and per-unit
// overrides. Deadlines of citizen reports are counted in it: "8 working hours" from a report filed on
// a Friday afternoon ends on Monday (or after Tết).
//
// All times are interpreted in the calendar's zone (Asia/Ho_Chi_Minh by default); results are in
// that zone too.
package worktime

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Span is a working period of a day in minutes since midnight, [Start, End); End may be 1440.
type Span struct{ Start, End int }

// Hours is a day's working periods, sorted and not overlapping.
type Hours []Span

// Minutes is the length of a day of these hours in minutes.
func (h Hours) Minutes() int {
	n := 0
	for _, s := range h {
		n += s.End - s.Start
	}
	return n
}

// ParseHours reads "07:30-11:30" periods.
func ParseHours(spans []string) (Hours, error) { return parseHours("hours", spans) }

func parseHours(prefix string, spans []string) (Hours, error) {
	var out Hours
	var errs []error
	for i, s := range spans {
		a, b, ok := strings.Cut(s, "-")
		start, err1 := clock(a)
		end, err2 := clock(b)
		if !ok || err1 != nil || err2 != nil || end <= start {
			errs = append(errs, fmt.Errorf("%s[%d]: want HH:MM-HH:MM with the end after the start, got %q", prefix, i, s))
			continue
		}
		out = append(out, Span{start, end})
	}
	slices.SortFunc(out, func(a, b Span) int { return a.Start - b.Start })
	for i := 1; i < len(out); i++ {
		if out[i].Start < out[i-1].End {
			errs = append(errs, fmt.Errorf("%s: periods overlap at %s", prefix, hhmm(out[i].Start)))
		}
	}
	return out, errors.Join(errs...)
}

func clock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(strings.TrimSpace(s), "%d:%d", &h, &m); err != nil || n != 2 || len(strings.TrimSpace(s)) != 5 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return h*60 + m, nil
}

func hhmm(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Date is a calendar day in the calendar's zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads 2026-02-17.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("bad date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf is the day of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Calendar says when a unit works. The zero value is not usable; build one with New. A Calendar is
// immutable and safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	hours    Hours
	weekdays [7]bool
	holidays map[Date]string // day off → its name
	workdays map[Date]string // make-up working day (usually a Saturday) → why
	years    map[int]bool    // years with a published list
}

// New builds a calendar. weekdays are the usual working days; holidays are days off even on a
// working weekday; workdays are make-up days worked even on a weekend (with the usual hours);
// years are the years whose lists were published (see Missing).
func New(loc *time.Location, hours Hours, weekdays []time.Weekday, holidays, workdays map[Date]string, years []int) (*Calendar, error) {
	if loc == nil {
		return nil, errors.New("worktime: location required")
	}
	if hours.Minutes() == 0 {
		return nil, errors.New("worktime: no working hours")
	}
	if len(weekdays) == 0 && len(workdays) == 0 {
		return nil, errors.New("worktime: no working days")
	}
	c := &Calendar{loc: loc, hours: slices.Clone(hours), holidays: maps.Clone(holidays), workdays: maps.Clone(workdays), years: map[int]bool{}}
	for _, w := range weekdays {
		c.weekdays[w] = true
	}
	for d := range holidays {
		if _, ok := workdays[d]; ok {
			return nil, fmt.Errorf("worktime: %s is both a holiday and a make-up working day", d)
		}
	}
	for _, y := range years {
		c.years[y] = true
	}
	return c, nil
}

// Location is the calendar's zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// Hours returns the working periods of a working day.
func (c *Calendar) Hours() Hours { return slices.Clone(c.hours) }

// Missing lists the years in [from, to] that have no published holiday list: their holidays are
// unknown, so deadlines there count Tết as working days (a startup warning).
func (c *Calendar) Missing(from, to int) []int {
	var out []int
	for y := from; y <= to; y++ {
		if !c.years[y] {
			out = append(out, y)
		}
	}
	return out
}

// WorkingDay reports whether d is worked: a make-up day, or a usual weekday that is no holiday.
func (c *Calendar) WorkingDay(d Date) bool {
	if _, ok := c.workdays[d]; ok {
		return true
	}
	if _, ok := c.holidays[d]; ok {
		return false
	}
	return c.weekdays[time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()]
}

// Holiday returns the name of the holiday on d, if it is one.
func (c *Calendar) Holiday(d Date) (string, bool) {
	name, ok := c.holidays[d]
	return name, ok
}

// at is minute min of day d.
func (c *Calendar) at(d Date, min int) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, min, 0, 0, c.loc)
}

func next(d Date) Date { return DateOf(time.Date(d.Year, d.Month, d.Day+1, 12, 0, 0, 0, time.UTC)) }

// Add returns the moment when work of length d, started at t, is done: d of working time after t.
// Add(t, 0) is t. The result is the earliest such moment, so a deadline ending with a working
// period is its end (17:00), not the next morning.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	t = t.In(c.loc)
	if d <= 0 {
		return t
	}
	day := DateOf(t)
	for {
		if c.WorkingDay(day) {
			for _, s := range c.hours {
				start, end := c.at(day, s.Start), c.at(day, s.End)
				if start.Before(t) {
					start = t
				}
				if !start.Before(end) {
					continue
				}
				if avail := end.Sub(start); d <= avail {
					return start.Add(d)
				} else {
					d -= avail
				}
			}
		}
		day = next(day)
	}
}

// Sub returns the latest moment before t that leaves d of working time until t: when to warn d
// ahead of a deadline t. Sub(t, 0) is t.
func (c *Calendar) Sub(t time.Time, d time.Duration) time.Time {
	t = t.In(c.loc)
	if d <= 0 {
		return t
	}
	day := DateOf(t)
	for {
		if c.WorkingDay(day) {
			for i := len(c.hours) - 1; i >= 0; i-- {
				start, end := c.at(day, c.hours[i].Start), c.at(day, c.hours[i].End)
				if end.After(t) {
					end = t
				}
				if !end.After(start) {
					continue
				}
				if avail := end.Sub(start); d <= avail {
					return end.Add(-d)
				} else {
					d -= avail
				}
			}
		}
		day = prev(day)
	}
}

func prev(d Date) Date { return DateOf(time.Date(d.Year, d.Month, d.Day-1, 12, 0, 0, 0, time.UTC)) }

// Between returns the working time in [a, b); zero when b is not after a.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	a, b = a.In(c.loc), b.In(c.loc)
	var total time.Duration
	last := DateOf(b)
	for day := DateOf(a); !a.After(b); day = next(day) {
		if c.WorkingDay(day) {
			for _, s := range c.hours {
				start, end := c.at(day, s.Start), c.at(day, s.End)
				if start.Before(a) {
					start = a
				}
				if end.After(b) {
					end = b
				}
				if end.After(start) {
					total += end.Sub(start)
				}
			}
		}
		if day == last {
			break
		}
	}
	return total
}
