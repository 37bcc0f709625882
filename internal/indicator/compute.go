package indicator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/stream"
)

// Sources are the data the formulas read. The report figures come from the same KPISet the KPI
// screen uses, the alarm figures from the alarm store, the sensor figures from the reading store
// (SQLite or InfluxDB) through hourly aggregates per device.
type Sources struct {
	Reports  Reports
	Alarms   alarm.Store
	Readings stream.ReadingStore
	Devices  func() []registry.Entity // telemetry devices with their admin areas
	Areas    func() *geo.Areas        // the admin areas in use
	Boundary string                   // names the boundary set in use (files and content hash), kept in lineage
	Location *time.Location           // periods are calendar periods here (Asia/Ho_Chi_Minh)
	Now      func() time.Time         // nil: time.Now
}

// Reports is what the formulas need from the report component (*report.Service): the KPISet the
// KPI screen also computes from.
type Reports interface {
	KPISet(ctx context.Context, before time.Time) (*report.KPISet, error)
}

// Value is one computed indicator value for an area and period. Value is null when there was
// nothing to compute it from (no resolved report for a share, no device for a sensor figure).
type Value struct {
	Indicator string    `json:"indicator"`
	Area      string    `json:"area"`
	AreaName  string    `json:"area_name"`
	Level     string    `json:"level"`
	Period    string    `json:"period"`
	Key       string    `json:"period_key"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Value     *float64  `json:"value"`
	Status    string    `json:"status"` // green, amber, red or "" (no thresholds or no value)
	Target    *float64  `json:"target,omitempty"`
	Lineage   Lineage   `json:"lineage"`
}

// Lineage says where a value came from.
type Lineage struct {
	Formula    Formula        `json:"formula"`
	Inputs     map[string]int `json:"inputs"`             // how many reports, alarms, devices, samples were read
	Boundary   string         `json:"boundary,omitempty"` // the admin boundary set the areas came from
	ComputedAt time.Time      `json:"computed_at"`
	Partial    bool           `json:"partial"` // computed before the period ended
}

// ErrUnknown is returned for an indicator code that is not defined.
var ErrUnknown = errors.New("unknown indicator")

// span computation state shared by every indicator of one period: one read of each source.
type batch struct {
	src     Sources
	span    Span
	now     time.Time
	upTo    time.Time // min(span.End, now)
	set     *report.KPISet
	raised  []alarm.Alarm
	before  []alarm.Alarm // raised before the end (alarms_open)
	samples map[sampleKey][]stream.Sample
	rows    map[[2]string]report.KPIRow // by area and category: shared by the report formulas
	devices []registry.Entity           // read once
}

type sampleKey struct{ device, field, agg string }

func (s Sources) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Compute computes def over span for every area of its levels.
func (s Sources) Compute(ctx context.Context, def Definition, span Span) ([]Value, error) {
	return s.newBatch(span).compute(ctx, def)
}

// ComputeAll computes every definition of the given period kind over span, sharing the reads.
func (s Sources) ComputeAll(ctx context.Context, defs []Definition, span Span) ([]Value, error) {
	b := s.newBatch(span)
	var out []Value
	for _, d := range defs {
		if d.Period != span.Period {
			continue
		}
		vs, err := b.compute(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("indicator %s %s: %w", d.Code, span.Key, err)
		}
		out = append(out, vs...)
	}
	return out, nil
}

// newBatch reads the clock once: every indicator of the batch is computed up to the same time, over
// the same reads.
func (s Sources) newBatch(span Span) *batch {
	b := &batch{src: s, span: span, now: s.now(), upTo: span.End, samples: map[sampleKey][]stream.Sample{},
		rows: map[[2]string]report.KPIRow{}}
	if b.now.Before(b.upTo) {
		b.upTo = b.now
	}
	return b
}

func (b *batch) compute(ctx context.Context, def Definition) ([]Value, error) {
	now := b.now
	if !b.upTo.After(b.span.Start) { // a period that has not begun has no value yet
		return nil, nil
	}
	areas := b.src.Areas()
	var out []Value
	for _, level := range def.Levels {
		for _, a := range areas.List(level) {
			v, inputs, err := b.value(ctx, def, a)
			if err != nil {
				return nil, err
			}
			out = append(out, Value{Indicator: def.Code, Area: a.Code, AreaName: a.Name, Level: level,
				Period: def.Period, Key: b.span.Key, Start: b.span.Start, End: b.span.End, Value: v,
				Status: def.Status(v), Target: def.Target, Lineage: Lineage{Formula: def.Formula, Inputs: inputs,
					Boundary: b.src.Boundary, ComputedAt: now.In(b.src.Location).Truncate(time.Second),
					Partial: now.Before(b.span.End)}})
		}
	}
	return out, nil
}

func ptr(v float64) *float64 { return &v }

// value computes one area's value and the count of each input read.
func (b *batch) value(ctx context.Context, def Definition, a *geo.Area) (*float64, map[string]int, error) {
	f := def.Formula
	switch {
	case isReportKind(f.Kind):
		return b.reports(ctx, f, a.Code)
	case isAlarmKind(f.Kind):
		return b.alarms(ctx, f, a.Code)
	default:
		return b.sensors(ctx, f, a)
	}
}

func (b *batch) reports(ctx context.Context, f Formula, area string) (*float64, map[string]int, error) {
	if b.set == nil {
		set, err := b.src.Reports.KPISet(ctx, b.upTo)
		if err != nil {
			return nil, nil, fmt.Errorf("reports: %w", err)
		}
		b.set = set
	}
	row, ok := b.rows[[2]string{area, f.Category}]
	if !ok {
		by := report.ByTotal
		if f.Category != "" {
			by = report.ByCategory
		}
		rows, err := b.set.In(area).Rows(b.span.Start, b.upTo, by)
		if err != nil {
			return nil, nil, fmt.Errorf("reports: %w", err)
		}
		for _, r := range rows {
			if r.Key == f.Category {
				row = r
			}
		}
		b.rows[[2]string{area, f.Category}] = row
	}
	inputs := map[string]int{"reports_received": row.Received, "reports_resolved": row.Resolved}
	switch f.Kind {
	case ReportsReceived:
		return ptr(float64(row.Received)), inputs, nil
	case ReportsResolved:
		return ptr(float64(row.Resolved)), inputs, nil
	}
	if row.Resolved == 0 {
		return nil, inputs, nil
	}
	if f.Kind == ReportsOnTimePct {
		return ptr(row.WithinSLAPct), inputs, nil
	}
	return ptr(row.MedianHours), inputs, nil
}

func (b *batch) alarms(ctx context.Context, f Formula, area string) (*float64, map[string]int, error) {
	if f.Kind == AlarmsOpen {
		if b.before == nil {
			list, err := b.src.Alarms.List(ctx, alarm.Filter{To: b.upTo, Limit: 1 << 30})
			if err != nil {
				return nil, nil, fmt.Errorf("alarms: %w", err)
			}
			b.before = list
		}
		n := 0
		for _, a := range b.before {
			if keep(a, f, area) && (a.ClearedAt == nil || !a.ClearedAt.Before(b.upTo)) {
				n++
			}
		}
		return ptr(float64(n)), map[string]int{"alarms": n}, nil
	}
	if b.raised == nil {
		list, err := b.src.Alarms.List(ctx, alarm.Filter{From: b.span.Start, To: b.upTo, Limit: 1 << 30})
		if err != nil {
			return nil, nil, fmt.Errorf("alarms: %w", err)
		}
		b.raised = list
	}
	var raised int
	var tta []float64
	for _, a := range b.raised {
		if !keep(a, f, area) {
			continue
		}
		raised++
		if a.AckedAt != nil {
			tta = append(tta, a.AckedAt.Sub(a.RaisedAt).Minutes())
		}
	}
	inputs := map[string]int{"alarms": raised, "alarms_acked": len(tta)}
	if f.Kind == AlarmsRaised {
		return ptr(float64(raised)), inputs, nil
	}
	if len(tta) == 0 {
		return nil, inputs, nil
	}
	return ptr(median(tta)), inputs, nil
}

func keep(a alarm.Alarm, f Formula, area string) bool {
	return report.InArea(a.Areas, area) && (f.Severity == "" || a.Severity == f.Severity)
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func (b *batch) sensors(ctx context.Context, f Formula, a *geo.Area) (*float64, map[string]int, error) {
	if f.Kind == OutOfRangePct {
		return b.outOfRange(ctx, f, a)
	}
	agg := "mean"
	switch f.Kind {
	case SensorMax:
		agg = "max"
	case CompletenessPct, DevicesReportingPct: // one read of the counts serves both
		agg = "count"
	}
	expected := float64(b.upTo.Sub(b.span.Start)) / float64(max(f.Interval, time.Second)) // readings per device
	var got float64                                                                       // readings counted, at most expected per device
	var devices, reporting, samples int
	var maxv, sum float64
	var hours int
	have := false
	above := map[int64]bool{} // hours (Unix) in which some device was above the limit
	for _, e := range b.inArea(f.Field, a) {
		devices++
		ss, err := b.hourly(ctx, e.ID, f.Field, agg)
		if err != nil {
			return nil, nil, err
		}
		if len(ss) > 0 {
			reporting++
		}
		samples += len(ss)
		if f.Kind == CompletenessPct {
			n := 0.0
			for _, s := range ss {
				n += s.Value
			}
			got += min(n, expected)
		}
		for _, s := range ss {
			switch f.Kind {
			case SensorMax:
				if !have || s.Value > maxv {
					maxv = s.Value
				}
			case SensorMean:
				sum += s.Value
				hours++
			case SensorHoursAbove:
				if s.Value > f.Above {
					above[s.Time.Unix()] = true
				}
			}
			have = true
		}
	}
	inputs := map[string]int{"devices": devices, "devices_reporting": reporting, "hourly_samples": samples}
	switch f.Kind {
	case DevicesReportingPct:
		if devices == 0 {
			return nil, inputs, nil
		}
		return ptr(100 * float64(reporting) / float64(devices)), inputs, nil
	case SensorHoursAbove:
		if devices == 0 {
			return nil, inputs, nil
		}
		return ptr(float64(len(above))), inputs, nil
	case CompletenessPct:
		if devices == 0 || expected <= 0 {
			return nil, inputs, nil
		}
		inputs["readings"] = int(got)
		return ptr(100 * got / (expected * float64(devices))), inputs, nil
	}
	if !have {
		return nil, inputs, nil
	}
	if f.Kind == SensorMax {
		return ptr(maxv), inputs, nil
	}
	return ptr(sum / float64(hours)), inputs, nil
}

// hourly is one device's hourly aggregate of field over the span, read once per batch.
func (b *batch) hourly(ctx context.Context, device, field, agg string) ([]stream.Sample, error) {
	k := sampleKey{device, field, agg}
	if ss, ok := b.samples[k]; ok {
		return ss, nil
	}
	ss, err := b.src.Readings.Readings(ctx, stream.ReadingQuery{Entity: device, Field: field, From: b.span.Start,
		To: b.upTo, Every: time.Hour, Agg: agg, Limit: 24 * 366})
	if err != nil {
		return nil, fmt.Errorf("readings of %s.%s: %w", device, field, err)
	}
	b.samples[k] = ss
	return ss, nil
}

// inArea lists the devices of area a that measure field.
func (b *batch) inArea(field string, a *geo.Area) []registry.Entity {
	if b.devices == nil {
		b.devices = b.src.Devices()
	}
	var out []registry.Entity
	for _, e := range b.devices {
		if _, ok := e.Values[field]; ok && e.Areas[a.Level] == a.Code {
			out = append(out, e)
		}
	}
	return out
}

// outOfRange is the share of device-hours with data whose hourly minimum or maximum lies outside
// [f.Min, f.Max].
func (b *batch) outOfRange(ctx context.Context, f Formula, a *geo.Area) (*float64, map[string]int, error) {
	devices := b.inArea(f.Field, a)
	var hours, out int
	for _, e := range devices {
		lo, err := b.hourly(ctx, e.ID, f.Field, "min")
		if err != nil {
			return nil, nil, err
		}
		hi, err := b.hourly(ctx, e.ID, f.Field, "max")
		if err != nil {
			return nil, nil, err
		}
		bad := map[int64]bool{}
		for _, s := range lo {
			bad[s.Time.Unix()] = s.Value < *f.Min
		}
		for _, s := range hi {
			bad[s.Time.Unix()] = bad[s.Time.Unix()] || s.Value > *f.Max
		}
		hours += len(bad)
		for _, x := range bad {
			if x {
				out++
			}
		}
	}
	inputs := map[string]int{"devices": len(devices), "device_hours": hours, "device_hours_out_of_range": out}
	if hours == 0 {
		return nil, inputs, nil
	}
	return ptr(100 * float64(out) / float64(hours)), inputs, nil
}
