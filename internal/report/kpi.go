package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// KPI groupings.
const (
	ByTotal    = ""
	ByCategory = "category"
	// ByArea groups by area code at one level: "area:<level>" names the level (as the boundary data
	// does: "commune", "district" …); plain "area" takes the finest level in the reports read, the
	// one with the most distinct codes among them.
	ByArea    = "area"
	ByCommune = "commune" // the commune level: ByLevel("commune")
	ByUnit    = "unit"    // the unit handling the report
)

// ByLevel is the grouping by the area codes of one level.
func ByLevel(level string) string { return ByArea + ":" + level }

// KPIRow is one line of the leaders' scorecard for [From, To).
type KPIRow struct {
	Key          string  `json:"key"`                 // service code, district code, or "" for the total
	Received     int     `json:"received"`            // created in the range
	Resolved     int     `json:"resolved"`            // resolved in the range
	Backlog      int     `json:"backlog"`             // still open now among reports created before To
	Overdue      int     `json:"overdue"`             // of the backlog, past due now
	WithinSLAPct float64 `json:"within_sla_pct"`      // of Resolved, share resolved by the due time (0..100)
	MedianHours  float64 `json:"median_resolution_h"` // of Resolved, median hours from receipt to resolution
	Satisfied    int     `json:"satisfied"`           // rated hài lòng in the range
	Unsatisfied  int     `json:"unsatisfied"`         // rated chưa hài lòng in the range
	SatisfiedPct float64 `json:"satisfied_pct"`       // of the ratings, share hài lòng (0..100)
}

// KPI computes the scorecard for [from, to) grouped by ByTotal, ByCategory or ByArea. It reads the
// reports created before to; at provincial volumes (tens of thousands a year) that is cheap.
func (s *Service) KPI(ctx context.Context, from, to time.Time, by string) ([]KPIRow, error) {
	set, err := s.KPISet(ctx, to)
	if err != nil {
		return nil, err
	}
	return set.Rows(from, to, by)
}

// KPISet holds the reports created before a time, so that many scorecards (periods, groupings, a
// daily trend) are computed from one read of the store.
type KPISet struct {
	reports []Report
	before  time.Time
	now     time.Time
}

// KPISet reads the reports created before `before` once.
func (s *Service) KPISet(ctx context.Context, before time.Time) (*KPISet, error) {
	rs, err := s.d.Store.List(ctx, Query{To: before})
	if err != nil {
		return nil, fmt.Errorf("kpi: %w", err)
	}
	return &KPISet{reports: rs, before: before, now: s.d.Now()}, nil
}

// In is the part of the set in any of the admin areas (codes at any level, as in a report's areas);
// a report in several of them is kept once.
func (k *KPISet) In(areas ...string) *KPISet {
	out := &KPISet{before: k.before, now: k.now}
	for _, r := range k.reports {
		if slices.ContainsFunc(areas, func(code string) bool { return InArea(r.Areas, code) }) {
			out.reports = append(out.reports, r)
		}
	}
	return out
}

// InArea reports whether areas (an item's area codes by level) hold code at any level.
func InArea(areas map[string]string, code string) bool {
	for _, c := range areas {
		if c == code {
			return true
		}
	}
	return false
}

// Rows computes the scorecard for [from, to) grouped by ByTotal, ByCategory or ByArea; to must not be
// after the time the set was read up to.
func (k *KPISet) Rows(from, to time.Time, by string) ([]KPIRow, error) {
	level, byLevel := strings.CutPrefix(by, ByArea+":")
	switch {
	case by == ByTotal, by == ByCategory, by == ByUnit:
	case by == ByArea:
		level, byLevel = k.FinestLevel(), true
	case by == ByCommune:
		level, byLevel = "commune", true
	case byLevel && level != "":
	default:
		return nil, fmt.Errorf("%w: by: must be %q, %q, %q, %q, %q or empty", ErrInvalid, ByCategory, ByArea, ByLevel("<level>"), ByCommune, ByUnit)
	}
	if !to.After(from) {
		return nil, fmt.Errorf("%w: to must be after from", ErrInvalid)
	}
	if to.After(k.before) {
		return nil, fmt.Errorf("%w: to is after the reports read (%s)", ErrInvalid, k.before.Format(time.RFC3339))
	}
	type acc struct {
		row   KPIRow
		inSLA int
		times []float64
	}
	groups := map[string]*acc{}
	for _, r := range k.reports {
		if !r.Created.Before(to) {
			continue
		}
		key := ""
		switch {
		case by == ByCategory:
			key = r.Service
		case byLevel:
			if key = r.Areas[level]; key == "" {
				key = stream.AreaOutside
			}
		case by == ByUnit:
			key = r.Unit
		}
		g := groups[key]
		if g == nil {
			g = &acc{row: KPIRow{Key: key}}
			groups[key] = g
		}
		if !r.Created.Before(from) {
			g.row.Received++
		}
		if !r.Resolved.IsZero() && !r.Resolved.Before(from) && r.Resolved.Before(to) {
			g.row.Resolved++
			if !r.Resolved.After(r.Due) {
				g.inSLA++
			}
			g.times = append(g.times, r.Resolved.Sub(r.Created).Hours())
		}
		if !r.Rated.IsZero() && !r.Rated.Before(from) && r.Rated.Before(to) {
			switch r.Rating {
			case RatingSatisfied:
				g.row.Satisfied++
			case RatingUnsatisfied:
				g.row.Unsatisfied++
			}
		}
		if r.Status.Open() {
			g.row.Backlog++
			if r.Overdue(k.now) {
				g.row.Overdue++
			}
		}
	}
	out := make([]KPIRow, 0, len(groups))
	for _, g := range groups {
		if n := g.row.Satisfied + g.row.Unsatisfied; n > 0 {
			g.row.SatisfiedPct = 100 * float64(g.row.Satisfied) / float64(n)
		}
		if g.row.Resolved > 0 {
			g.row.WithinSLAPct = 100 * float64(g.inSLA) / float64(g.row.Resolved)
			g.row.MedianHours = median(g.times)
		}
		out = append(out, g.row)
	}
	slices.SortFunc(out, func(a, b KPIRow) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out, nil
}

// FinestLevel is the level with the most distinct area codes among the reports (by name on a tie),
// "" when none has areas.
func (k *KPISet) FinestLevel() string {
	codes := map[string]map[string]bool{}
	for _, r := range k.reports {
		for lvl, code := range r.Areas {
			if code == stream.AreaOutside || code == "" {
				continue
			}
			if codes[lvl] == nil {
				codes[lvl] = map[string]bool{}
			}
			codes[lvl][code] = true
		}
	}
	best := ""
	for lvl, c := range codes {
		if n, m := len(c), len(codes[best]); best == "" || n > m || n == m && lvl < best {
			best = lvl
		}
	}
	return best
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
