// Package indicator is ioc's registry of steering indicators ("chỉ tiêu"): each one defined in config
// with its names, unit, calendar period, owning unit, area levels, direction, target, thresholds and a
// formula from a fixed set over ioc's own data (citizen reports, alarms, sensor readings). Values are
// computed per area and period, stored with their lineage, recomputed on a schedule to take in late
// data, and served as JSON, CSV and XLSX.
package indicator

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/internal/sqldb"
)

// Periods an indicator may be computed over: calendar periods in Asia/Ho_Chi_Minh.
const (
	Day     = "day"
	Week    = "week" // ISO week, Monday to Monday
	Month   = "month"
	Quarter = "quarter"
	Year    = "year"
)

// Periods lists the accepted periods.
var Periods = []string{Day, Week, Month, Quarter, Year}

// Levels are the admin levels an indicator can be reported for.
var Levels = []string{"province", "district", "commune"}

// Directions.
const (
	HigherBetter = "higher_better"
	LowerBetter  = "lower_better"
)

// Formula kinds: the fixed, documented set (docs/INDICATORS.md).
const (
	ReportsReceived     = "reports_received"      // citizen reports received in the period
	ReportsResolved     = "reports_resolved"      // reports resolved in the period
	ReportsOnTimePct    = "reports_on_time_pct"   // of those resolved, share resolved by the due time (%)
	ReportsMedianHours  = "reports_median_hours"  // of those resolved, median hours from receipt to resolution
	AlarmsRaised        = "alarms_raised"         // alarms raised in the period
	AlarmsOpen          = "alarms_open"           // alarms open at the end of the period (or now)
	AlarmsMedianAckMin  = "alarms_median_ack_min" // of the alarms raised and acknowledged, median minutes to acknowledge
	SensorMax           = "sensor_max"            // maximum of a field over the area's devices
	SensorMean          = "sensor_mean"           // mean of the hourly means of a field over the area's devices
	SensorHoursAbove    = "sensor_hours_above"    // hours in which some device's hourly mean of a field was above a limit
	DevicesReportingPct = "devices_reporting_pct" // share of the area's telemetry devices that sent at least one reading of field
	CompletenessPct     = "completeness_pct"      // readings received over readings expected at interval ("đủ"), over the area's devices
	OutOfRangePct       = "out_of_range_pct"      // share of device-hours with a reading outside [min, max] ("đúng": plausibility)
)

// Formulas lists the accepted formula kinds.
var Formulas = []string{ReportsReceived, ReportsResolved, ReportsOnTimePct, ReportsMedianHours, AlarmsRaised,
	AlarmsOpen, AlarmsMedianAckMin, SensorMax, SensorMean, SensorHoursAbove, DevicesReportingPct, CompletenessPct, OutOfRangePct}

// needsField reports whether a formula kind reads a sensor field.
func needsField(kind string) bool {
	return kind == SensorMax || kind == SensorMean || kind == SensorHoursAbove || kind == DevicesReportingPct ||
		kind == CompletenessPct || kind == OutOfRangePct
}

// Config is the indicators: section.
type Config struct {
	// Store is where values are kept: by default indicators.db beside ioc's own store.
	Store sqldb.Config `yaml:"store"`
	// File is a YAML file of more definitions (definitions: [...]), read at start and validated with
	// the inline ones (configs/indicators.yaml is the demo's set).
	File string `yaml:"file"`
	// RecomputeEvery is how often the last RecomputePeriods periods of every indicator are computed
	// again, so that late readings and reports resolved later are taken in.
	RecomputeEvery   time.Duration `yaml:"recompute_every"`
	RecomputePeriods int           `yaml:"recompute_periods"`
	Definitions      []Definition  `yaml:"definitions"`
}

// Defaults are the indicator defaults: no definitions, values recomputed every 15 minutes over the
// last 3 periods.
func Defaults() Config {
	return Config{Store: sqldb.Config{Driver: sqldb.SQLite}, RecomputeEvery: 15 * time.Minute,
		RecomputePeriods: 3}
}

// Definition is one indicator.
type Definition struct {
	Code      string   `yaml:"code" json:"code"`
	NameVI    string   `yaml:"name_vi" json:"name_vi"`
	NameEN    string   `yaml:"name_en" json:"name_en"`
	Unit      string   `yaml:"unit" json:"unit"`
	Period    string   `yaml:"period" json:"period"`
	Owner     string   `yaml:"owner" json:"owner"` // the unit answerable for it
	Levels    []string `yaml:"levels" json:"levels"`
	Direction string   `yaml:"direction" json:"direction"`
	Target    *float64 `yaml:"target" json:"target,omitempty"`
	Green     *float64 `yaml:"green" json:"green,omitempty"` // at or better than this: green
	Red       *float64 `yaml:"red" json:"red,omitempty"`     // at or worse than this: red; between: amber
	Formula   Formula  `yaml:"formula" json:"formula"`
	Decimals  int      `yaml:"decimals" json:"decimals"` // shown decimals in reports
}

// Formula says how an indicator is computed.
type Formula struct {
	Kind     string  `yaml:"kind" json:"kind"`
	Field    string  `yaml:"field,omitempty" json:"field,omitempty"`       // sensor formulas: reading field (salinity, pm25 …)
	Above    float64 `yaml:"above,omitempty" json:"above,omitempty"`       // sensor_hours_above: the limit
	Category string  `yaml:"category,omitempty" json:"category,omitempty"` // report formulas: one service code only
	Severity string  `yaml:"severity,omitempty" json:"severity,omitempty"` // alarm formulas: one severity only
	// Interval is the expected reporting interval of each device (completeness_pct).
	Interval time.Duration `yaml:"interval,omitempty" json:"interval_ns,omitempty"`
	// Min and Max are the plausible range of the field (out_of_range_pct).
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
}

var (
	codeRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	fieldRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// Severities accepted by alarm formulas.
var Severities = []string{"critical", "major", "minor", "warning"}

// LoadFile reads the definitions of a definitions file and appends them to c's; the result is to be
// validated with Validate.
func (c Config) LoadFile() (Config, error) {
	if c.File == "" {
		return c, nil
	}
	raw, err := os.ReadFile(c.File)
	if err != nil {
		return c, fmt.Errorf("indicators.file: %w", err)
	}
	var f struct {
		Definitions []Definition `yaml:"definitions"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return c, fmt.Errorf("indicators.file %s: %w", c.File, err)
	}
	c.Definitions = append(slices.Clone(c.Definitions), f.Definitions...)
	return c, nil
}

// Validate reports every problem of the section with its key path under prefix ("indicators").
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, args...)))
	}
	switch c.Store.Driver {
	case sqldb.SQLite, "":
	case sqldb.Postgres:
		if c.Store.DSN == "" {
			add("store.dsn", "must be set for postgres")
		}
	default:
		add("store.driver", "must be sqlite or postgres, not %q", c.Store.Driver)
	}
	if c.RecomputeEvery < time.Minute {
		add("recompute_every", "must be at least 1m")
	}
	if c.RecomputePeriods < 1 || c.RecomputePeriods > 366 {
		add("recompute_periods", "must be between 1 and 366")
	}
	seen := map[string]bool{}
	for i, d := range c.Definitions {
		p := fmt.Sprintf("definitions[%d]", i)
		if d.Code != "" {
			p += " (" + d.Code + ")"
		}
		for _, err := range d.problems() {
			add(p+"."+err.path, "%s", err.msg)
		}
		if seen[d.Code] {
			add(p+".code", "duplicate code %q", d.Code)
		}
		seen[d.Code] = true
	}
	return errors.Join(errs...)
}

type problem struct{ path, msg string }

// problems lists what is wrong with one definition, key paths relative to it.
func (d Definition) problems() []problem {
	var out []problem
	add := func(path, format string, args ...any) { out = append(out, problem{path, fmt.Sprintf(format, args...)}) }
	if !codeRE.MatchString(d.Code) {
		add("code", "must be 1-64 lowercase letters, digits or _, starting with a letter")
	}
	if d.NameVI == "" {
		add("name_vi", "must be set")
	}
	if d.NameEN == "" {
		add("name_en", "must be set")
	}
	if !slices.Contains(Periods, d.Period) {
		add("period", "unknown period %q (one of %v)", d.Period, Periods)
	}
	if len(d.Levels) == 0 {
		add("levels", "must list at least one of %v", Levels)
	}
	for j, l := range d.Levels {
		if !slices.Contains(Levels, l) {
			add(fmt.Sprintf("levels[%d]", j), "unknown area level %q (one of %v)", l, Levels)
		}
	}
	if d.Direction != HigherBetter && d.Direction != LowerBetter {
		add("direction", "must be %s or %s, not %q", HigherBetter, LowerBetter, d.Direction)
	}
	if d.Green != nil && d.Red != nil {
		if d.Direction == HigherBetter && *d.Green <= *d.Red {
			add("green", "must be above red when higher is better")
		}
		if d.Direction == LowerBetter && *d.Green >= *d.Red {
			add("green", "must be below red when lower is better")
		}
	}
	if (d.Green == nil) != (d.Red == nil) {
		add("green", "green and red must be set together")
	}
	if d.Decimals < 0 || d.Decimals > 6 {
		add("decimals", "must be between 0 and 6")
	}
	f := d.Formula
	switch {
	case !slices.Contains(Formulas, f.Kind):
		add("formula.kind", "unknown formula %q (one of %v)", f.Kind, Formulas)
	case needsField(f.Kind) && !fieldRE.MatchString(f.Field):
		add("formula.field", "must name a reading field (1-64 letters, digits, _ . -) for %s", f.Kind)
	case !needsField(f.Kind) && f.Field != "":
		add("formula.field", "is not used by %s", f.Kind)
	}
	if f.Kind != SensorHoursAbove && f.Above != 0 {
		add("formula.above", "is only used by %s", SensorHoursAbove)
	}
	if f.Kind == CompletenessPct && (f.Interval < time.Second || f.Interval > 24*time.Hour) {
		add("formula.interval", "must be between 1s and 24h for %s", CompletenessPct)
	}
	if f.Kind != CompletenessPct && f.Interval != 0 {
		add("formula.interval", "is only used by %s", CompletenessPct)
	}
	switch {
	case f.Kind == OutOfRangePct && (f.Min == nil || f.Max == nil):
		add("formula.min", "min and max must be set for %s", OutOfRangePct)
	case f.Kind == OutOfRangePct && *f.Max <= *f.Min:
		add("formula.max", "must be above min")
	case f.Kind != OutOfRangePct && (f.Min != nil || f.Max != nil):
		add("formula.min", "min and max are only used by %s", OutOfRangePct)
	}
	if f.Category != "" && !isReportKind(f.Kind) {
		add("formula.category", "is only used by report formulas")
	}
	if f.Severity != "" && (!isAlarmKind(f.Kind) || !slices.Contains(Severities, f.Severity)) {
		add("formula.severity", "must be one of %v and is only used by alarm formulas", Severities)
	}
	return out
}

func isReportKind(k string) bool {
	return k == ReportsReceived || k == ReportsResolved || k == ReportsOnTimePct || k == ReportsMedianHours
}

func isAlarmKind(k string) bool {
	return k == AlarmsRaised || k == AlarmsOpen || k == AlarmsMedianAckMin
}

// Status colours of a value.
const (
	Green = "green"
	Amber = "amber"
	Red   = "red"
	None  = "" // no thresholds, or no value
)

// Status is the colour of v under the definition's thresholds.
func (d Definition) Status(v *float64) string {
	if v == nil || d.Green == nil || d.Red == nil {
		return None
	}
	better := func(a, b float64) bool { // a at least as good as b
		if d.Direction == LowerBetter {
			return a <= b
		}
		return a >= b
	}
	switch {
	case better(*v, *d.Green):
		return Green
	case better(*d.Red, *v):
		return Red
	}
	return Amber
}
