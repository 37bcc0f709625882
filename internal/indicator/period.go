package indicator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Span is one calendar period of an indicator: [Start, End) in Asia/Ho_Chi_Minh, named by Key
// (2026-12-08, 2026-W50, 2026-12, 2026-Q4, 2026).
type Span struct {
	Period string
	Key    string
	Start  time.Time
	End    time.Time
}

// SpanAt is the period of kind period that holds t, in loc.
func SpanAt(period string, t time.Time, loc *time.Location) Span {
	t = t.In(loc)
	y, m, d := t.Date()
	var start, end time.Time
	var key string
	switch period {
	case Day:
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		end = start.AddDate(0, 0, 1)
		key = start.Format(time.DateOnly)
	case Week:
		wd := (int(t.Weekday()) + 6) % 7 // Monday 0
		start = time.Date(y, m, d-wd, 0, 0, 0, 0, loc)
		end = start.AddDate(0, 0, 7)
		iy, iw := start.ISOWeek()
		key = fmt.Sprintf("%04d-W%02d", iy, iw)
	case Month:
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		end = start.AddDate(0, 1, 0)
		key = start.Format("2006-01")
	case Quarter:
		q := (int(m) - 1) / 3
		start = time.Date(y, time.Month(q*3+1), 1, 0, 0, 0, 0, loc)
		end = start.AddDate(0, 3, 0)
		key = fmt.Sprintf("%04d-Q%d", y, q+1)
	default: // Year
		start = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		end = start.AddDate(1, 0, 0)
		key = strconv.Itoa(y)
	}
	return Span{Period: period, Key: key, Start: start, End: end}
}

// Prev is the period before s.
func (s Span) Prev(loc *time.Location) Span { return SpanAt(s.Period, s.Start.Add(-time.Hour), loc) }

// Last returns the n periods up to and including the one holding now, oldest first.
func Last(period string, now time.Time, n int, loc *time.Location) []Span {
	out := make([]Span, n)
	s := SpanAt(period, now, loc)
	for i := n - 1; i >= 0; i-- {
		out[i] = s
		s = s.Prev(loc)
	}
	return out
}

// ParseKey reads a period key of the given kind (as Span.Key).
func ParseKey(period, key string, loc *time.Location) (Span, error) {
	var t time.Time
	var err error
	switch period {
	case Day:
		t, err = time.ParseInLocation(time.DateOnly, key, loc)
	case Month:
		t, err = time.ParseInLocation("2006-01", key, loc)
	case Year:
		t, err = time.ParseInLocation("2006", key, loc)
	case Quarter:
		y, q, ok := yearAnd(key, "-Q", 4)
		if !ok {
			return Span{}, fmt.Errorf("period %q: want YYYY-Qn", key)
		}
		t = time.Date(y, time.Month((q-1)*3+1), 1, 0, 0, 0, 0, loc)
	case Week:
		y, wk, ok := yearAnd(key, "-W", 53)
		if !ok {
			return Span{}, fmt.Errorf("period %q: want YYYY-Wnn", key)
		}
		jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, loc) // always in ISO week 1
		t = SpanAt(Week, jan4, loc).Start.AddDate(0, 0, 7*(wk-1))
	default:
		return Span{}, fmt.Errorf("unknown period %q", period)
	}
	if err != nil {
		return Span{}, fmt.Errorf("period %q: %w", key, err)
	}
	s := SpanAt(period, t, loc)
	if s.Key != key {
		return Span{}, fmt.Errorf("period %q is not a %s key (did you mean %s?)", key, period, s.Key)
	}
	return s, nil
}

// yearAnd reads "YYYY<sep>n" with 1 <= n <= maxN.
func yearAnd(key, sep string, maxN int) (year, n int, ok bool) {
	y, rest, found := strings.Cut(key, sep)
	if !found {
		return 0, 0, false
	}
	year, err1 := strconv.Atoi(y)
	n, err2 := strconv.Atoi(rest)
	return year, n, err1 == nil && err2 == nil && n >= 1 && n <= maxN
}
