// Package kpi computes the leaders' scorecard served at GET /api/v1/kpi: citizen report figures, alarm
// figures, the share of sensors online and the latest environmental maxima by area (at the lowest level
// of the boundaries in use: communes in a province → commune set). It combines
// what the report and alarm components already compute; it stores nothing itself.
package kpi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

// Reports is what the scorecard needs from the report component (*report.Service): one read of the
// reports, from which every period and grouping is computed.
type Reports interface {
	KPISet(ctx context.Context, before time.Time) (*report.KPISet, error)
}

// Deps are the sources of the scorecard.
type Deps struct {
	Reports  Reports
	Alarms   alarm.Store
	Registry *registry.Registry
	// AreaLevel names the level the scorecard groups by area (the lowest level of the boundaries in
	// use); nil or "": the finest level found in the reports' areas.
	AreaLevel func() string
	// OnlineWindow is how recently a sensor must have reported to count as online.
	OnlineWindow time.Duration
	Location     *time.Location   // days start at midnight here (Asia/Ho_Chi_Minh)
	Now          func() time.Time // nil: time.Now
}

// MaxTrendDays bounds the daily trend series.
const MaxTrendDays = 92

// MaximaFields are the readings whose latest maxima by area the scorecard shows.
var MaximaFields = []string{"salinity", "water_level", "pm25"}

// Scorecard is the answer of GET /api/v1/kpi. Times are RFC 3339 in Asia/Ho_Chi_Minh.
type Scorecard struct {
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Area      string    `json:"area,omitempty"` // admin area code (any level) the figures are limited to
	Generated time.Time `json:"generated"`
	Reports   Reporting `json:"reports"`
	Alarms    Alarming  `json:"alarms"`
	Sensors   Sensors   `json:"sensors"`
	Maxima    []Maxima  `json:"maxima"`
	Trend     []Day     `json:"trend"`
}

// Reporting holds the citizen report figures. The totals cover [From, To); Windows end at To.
type Reporting struct {
	report.KPIRow
	Windows    map[string]Window `json:"windows"` // today, 7d, 30d
	ByCategory []report.KPIRow   `json:"by_category"`
	ByArea     []report.KPIRow   `json:"by_area"`    // keyed by the area codes of AreaLevel
	AreaLevel  string            `json:"area_level"` // the level of ByArea and Maxima ("commune" …)
}

// Window is what was received and resolved in one period ending at To.
type Window struct {
	Received int `json:"received"`
	Resolved int `json:"resolved"`
}

// Alarming holds the alarm figures: what is active now, and how fast the alarms raised in [From, To)
// were acknowledged.
type Alarming struct {
	Active           int            `json:"active"`
	ActiveBySeverity map[string]int `json:"active_by_severity"`
	Raised           int            `json:"raised"`
	Acked            int            `json:"acked"`
	MeanTimeToAckS   float64        `json:"mean_time_to_ack_s"`
	BySeverity       []alarm.KPI    `json:"by_severity"`
}

// Sensors is the share of telemetry devices that reported within the online window.
type Sensors struct {
	Total        int     `json:"total"`
	Online       int     `json:"online"`
	OnlinePct    float64 `json:"online_pct"`
	OnlineWindow string  `json:"online_window"`
}

// Maxima is the highest latest value of each field among one area's devices (at the scorecard's level).
type Maxima struct {
	Area   string          `json:"area"`
	Fields map[string]Peak `json:"fields"`
}

// Peak is one maximum and the device that reported it.
type Peak struct {
	Value  float64   `json:"value"`
	Device string    `json:"device"`
	At     time.Time `json:"at"`
}

// Day is one day of the trend series (midnight to midnight in Location).
type Day struct {
	Day          string `json:"day"` // YYYY-MM-DD
	Received     int    `json:"received"`
	Resolved     int    `json:"resolved"`
	AlarmsRaised int    `json:"alarms_raised"`
}

// Query selects the scorecard's range and area.
type Query struct {
	From, To time.Time
	Area     string // admin area code at any level; empty for the whole province
}

// areas is the area filter of the alarm store: none for the whole province.
func (q Query) areas() []string {
	if q.Area == "" {
		return nil
	}
	return []string{q.Area}
}

// Compute builds the scorecard for q.
func Compute(ctx context.Context, d Deps, q Query) (Scorecard, error) {
	if !q.To.After(q.From) {
		return Scorecard{}, fmt.Errorf("%w: to must be after from", report.ErrInvalid)
	}
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	sc := Scorecard{From: q.From.In(loc), To: q.To.In(loc), Area: q.Area, Generated: now.In(loc)}
	set, err := d.Reports.KPISet(ctx, q.To)
	if err != nil {
		return Scorecard{}, fmt.Errorf("report kpi: %w", err)
	}
	if q.Area != "" {
		set = set.In(q.Area)
	}
	level := ""
	if d.AreaLevel != nil {
		level = d.AreaLevel()
	}
	if sc.Reports, err = reporting(set, q, loc, level); err != nil {
		return Scorecard{}, err
	}
	if sc.Alarms, err = alarming(ctx, d.Alarms, q); err != nil {
		return Scorecard{}, err
	}
	ents := d.Registry.List(stream.TypeTelemetry)
	if q.Area != "" {
		ents = slices.DeleteFunc(ents, func(e registry.Entity) bool { return !report.InArea(e.Areas, q.Area) })
	}
	sc.Sensors = sensors(ents, now, d.OnlineWindow)
	sc.Maxima = maxima(ents, loc, sc.Reports.AreaLevel)
	if sc.Trend, err = trend(ctx, d.Alarms, set, q, loc); err != nil {
		return Scorecard{}, err
	}
	return sc, nil
}

// pick returns the total row of set (already narrowed to the chosen area), keyed by the area.
func pick(set *report.KPISet, from, to time.Time, area string) (report.KPIRow, error) {
	rows, err := set.Rows(from, to, report.ByTotal)
	if err != nil {
		return report.KPIRow{}, fmt.Errorf("report kpi: %w", err)
	}
	row := report.KPIRow{}
	if len(rows) == 1 {
		row = rows[0]
	}
	row.Key = area
	return row, nil
}

func reporting(set *report.KPISet, q Query, loc *time.Location, level string) (Reporting, error) {
	var out Reporting
	var err error
	if out.KPIRow, err = pick(set, q.From, q.To, q.Area); err != nil {
		return out, err
	}
	y, m, dd := q.To.In(loc).Date()
	windows := map[string]time.Time{"today": time.Date(y, m, dd, 0, 0, 0, 0, loc), "7d": q.To.Add(-7 * 24 * time.Hour),
		"30d": q.To.Add(-30 * 24 * time.Hour)}
	out.Windows = make(map[string]Window, len(windows))
	for name, from := range windows {
		if !q.To.After(from) { // "today" when To is exactly midnight
			out.Windows[name] = Window{}
			continue
		}
		row, err := pick(set, from, q.To, q.Area)
		if err != nil {
			return out, err
		}
		out.Windows[name] = Window{Received: row.Received, Resolved: row.Resolved}
	}
	if out.ByCategory, err = set.Rows(q.From, q.To, report.ByCategory); err != nil {
		return out, fmt.Errorf("report kpi: %w", err)
	}
	if level == "" {
		level = set.FinestLevel()
	}
	by := report.ByArea // no reports with areas: every row is outside
	if level != "" {
		by = report.ByLevel(level)
	}
	if out.ByArea, err = set.Rows(q.From, q.To, by); err != nil {
		return out, fmt.Errorf("report kpi: %w", err)
	}
	out.AreaLevel = level
	return out, nil
}

func alarming(ctx context.Context, st alarm.Store, q Query) (Alarming, error) {
	out := Alarming{ActiveBySeverity: map[string]int{"critical": 0, "major": 0, "minor": 0, "warning": 0}}
	active, err := st.List(ctx, alarm.Filter{State: "open", Areas: q.areas(), Limit: 1 << 30})
	if err != nil {
		return out, fmt.Errorf("alarm list: %w", err)
	}
	for _, a := range active {
		out.Active++
		out.ActiveBySeverity[a.Severity]++
	}
	groups, err := alarm.KPIs(ctx, st, q.From, q.To, "severity", q.areas())
	if err != nil {
		return out, fmt.Errorf("alarm kpi: %w", err)
	}
	out.BySeverity = groups
	var sum float64
	for _, g := range groups {
		out.Raised += g.Raised
		out.Acked += g.Acked
		sum += g.MeanTTA * float64(g.Acked)
	}
	if out.Acked > 0 {
		out.MeanTimeToAckS = sum / float64(out.Acked)
	}
	return out, nil
}

func sensors(ents []registry.Entity, now time.Time, window time.Duration) Sensors {
	out := Sensors{Total: len(ents), OnlineWindow: window.String()}
	for _, e := range ents {
		if !e.Time.IsZero() && now.Sub(e.Time) <= window {
			out.Online++
		}
	}
	if out.Total > 0 {
		out.OnlinePct = 100 * float64(out.Online) / float64(out.Total)
	}
	return out
}

func maxima(ents []registry.Entity, loc *time.Location, level string) []Maxima {
	by := map[string]map[string]Peak{}
	for _, e := range ents {
		area := e.Areas[level]
		if area == "" {
			area = stream.AreaOutside
		}
		for _, f := range MaximaFields {
			v, ok := e.Values[f]
			if !ok {
				continue
			}
			m := by[area]
			if m == nil {
				m = map[string]Peak{}
				by[area] = m
			}
			if p, seen := m[f]; !seen || v > p.Value {
				m[f] = Peak{Value: v, Device: e.ID, At: e.Time.In(loc)}
			}
		}
	}
	out := make([]Maxima, 0, len(by))
	for d, fields := range by {
		out = append(out, Maxima{Area: d, Fields: fields})
	}
	slices.SortFunc(out, func(a, b Maxima) int { return strings.Compare(a.Area, b.Area) })
	return out
}

// trend is the daily series of the last MaxTrendDays days of the range at most.
func trend(ctx context.Context, alarms alarm.Store, set *report.KPISet, q Query, loc *time.Location) ([]Day, error) {
	y, m, dd := q.From.In(loc).Date()
	start := time.Date(y, m, dd, 0, 0, 0, 0, loc)
	var days []time.Time
	for t := start; t.Before(q.To); t = t.AddDate(0, 0, 1) {
		days = append(days, t)
	}
	if len(days) > MaxTrendDays {
		days = days[len(days)-MaxTrendDays:]
	}
	if len(days) == 0 {
		return []Day{}, nil
	}
	raised, err := alarms.List(ctx, alarm.Filter{Areas: q.areas(), From: days[0], To: q.To, Limit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("alarm list: %w", err)
	}
	perDay := map[string]int{}
	for _, a := range raised {
		perDay[a.RaisedAt.In(loc).Format(time.DateOnly)]++
	}
	out := make([]Day, 0, len(days))
	for _, t := range days {
		end := t.AddDate(0, 0, 1)
		if end.After(q.To) {
			end = q.To
		}
		row, err := pick(set, t, end, q.Area)
		if err != nil {
			return nil, err
		}
		key := t.Format(time.DateOnly)
		out = append(out, Day{Day: key, Received: row.Received, Resolved: row.Resolved, AlarmsRaised: perDay[key]})
	}
	return out, nil
}
