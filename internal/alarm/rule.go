package alarm

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Severities, lowest first.
const (
	SeverityWarning  = "warning"
	SeverityMinor    = "minor"
	SeverityMajor    = "major"
	SeverityCritical = "critical"
)

var severities = []string{SeverityWarning, SeverityMinor, SeverityMajor, SeverityCritical}

// severityRank orders severities; an unknown severity ranks -1.
func severityRank(s string) int { return slices.Index(severities, s) }

// bumpSeverity returns the next severity up (critical stays critical).
func bumpSeverity(s string) string {
	r := severityRank(s)
	if r < 0 || r+1 >= len(severities) {
		return s
	}
	return severities[r+1]
}

// Threshold operators.
var operators = []string{">", ">=", "<", "<="}

// Duration is a time.Duration written as a Go duration string ("10m", "1h30m") in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes d as "10m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use for example \"10m\" or \"1h30m\")", b)
	}
	*d = Duration(v)
	return nil
}

// Rule turns events into alarms. Exactly one alarm per (source, rule) is open at a time; the source is
// the device or camera ID, or "<level>:<code>" for count rules.
type Rule struct {
	ID       string    `yaml:"id" json:"id"`
	Name     string    `yaml:"name" json:"name"` // shown to operators, Vietnamese first
	Severity string    `yaml:"severity" json:"severity"`
	Disabled bool      `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	Scope    Scope     `yaml:"scope,omitempty" json:"scope"`
	Schedule *Schedule `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	When     Condition `yaml:"when" json:"when"`
	// Cooldown is how long the condition must stay clear after an alarm cleared before a new alarm for
	// the same source may be raised. 0 means the engine default.
	Cooldown Duration `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
	// EscalateAfter bumps the severity one step and notifies again when the alarm is still unacknowledged
	// this long after it was raised. 0 means the engine default; negative is invalid.
	EscalateAfter Duration `yaml:"escalate_after,omitempty" json:"escalate_after,omitempty"`
}

// Scope limits which events a rule looks at. Empty lists match everything.
type Scope struct {
	Kinds   []string `yaml:"kinds,omitempty" json:"kinds,omitempty"`
	Devices []string `yaml:"devices,omitempty" json:"devices,omitempty"`
	Areas   []string `yaml:"areas,omitempty" json:"areas,omitempty"` // admin area codes at any level
}

// Schedule restricts when a rule may raise (clearing is never restricted). Times are local to
// Asia/Ho_Chi_Minh. A window whose To is before its From runs over midnight and belongs to the day it
// starts on. Days are mon, tue, wed, thu, fri, sat, sun; empty means every day.
type Schedule struct {
	Days    []string `yaml:"days,omitempty" json:"days,omitempty"`
	Windows []Window `yaml:"windows" json:"windows"`
}

// Window is a time-of-day range "HH:MM" (From inclusive, To exclusive).
type Window struct {
	From string `yaml:"from" json:"from"`
	To   string `yaml:"to" json:"to"`
}

// Condition is one test, or a combination. Exactly one field is set.
type Condition struct {
	Threshold *Threshold  `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	Level     *Level      `yaml:"level,omitempty" json:"level,omitempty"`
	Rate      *Rate       `yaml:"rate,omitempty" json:"rate,omitempty"`
	Offline   *Offline    `yaml:"offline,omitempty" json:"offline,omitempty"`
	Label     *Label      `yaml:"label,omitempty" json:"label,omitempty"`
	Count     *Count      `yaml:"count,omitempty" json:"count,omitempty"`
	All       []Condition `yaml:"all,omitempty" json:"all,omitempty"` // AND
	Any       []Condition `yaml:"any,omitempty" json:"any,omitempty"` // OR
	// Rule reuses the condition of another rule by ID.
	Rule string `yaml:"rule,omitempty" json:"rule,omitempty"`
}

// Threshold compares a telemetry field: on when "value Op Value" has held for For; off when the value
// reaches Clear (at or below it for > and >=, at or above it for < and <=). Without Clear it turns off
// as soon as the comparison fails.
type Threshold struct {
	Field string   `yaml:"field" json:"field"`
	Op    string   `yaml:"op" json:"op"`
	Value float64  `yaml:"value" json:"value"`
	Clear *float64 `yaml:"clear,omitempty" json:"clear,omitempty"`
	For   Duration `yaml:"for,omitempty" json:"for,omitempty"`
}

// Level compares a water level with a station's alert levels I, II and III (báo động I/II/III): on
// when the value is at or above alert level Min; the alarm's severity follows the highest level reached
// (Severities[0] for I …). Levels come from the rule or, when the rule gives none, from the device
// metadata keys alert_level_1, alert_level_2, alert_level_3. It turns off when the value falls to
// level Min minus ClearMargin.
type Level struct {
	Field       string    `yaml:"field,omitempty" json:"field,omitempty"` // default water_level
	Min         int       `yaml:"min" json:"min"`                         // 1, 2 or 3
	Levels      []float64 `yaml:"levels,omitempty" json:"levels,omitempty"`
	Severities  []string  `yaml:"severities,omitempty" json:"severities,omitempty"` // default minor, major, critical
	ClearMargin float64   `yaml:"clear_margin,omitempty" json:"clear_margin,omitempty"`
	For         Duration  `yaml:"for,omitempty" json:"for,omitempty"`
}

// Rate is on when a field changed by at least Delta within Per (a rise for positive Delta, a fall for
// negative), comparing the newest value with the oldest one seen within Per.
type Rate struct {
	Field string   `yaml:"field" json:"field"`
	Delta float64  `yaml:"delta" json:"delta"`
	Per   Duration `yaml:"per" json:"per"`
}

// Offline is on when a device in scope sent nothing for After. It is evaluated on the engine's ticker and
// may not be combined with other conditions.
type Offline struct {
	After Duration `yaml:"after" json:"after"`
}

// Label is on while a camera reports one of Labels (state active) in one of Zones (any zone when
// empty); off when the camera reports the detection ended.
type Label struct {
	Labels []string `yaml:"labels" json:"labels"`
	Zones  []string `yaml:"zones,omitempty" json:"zones,omitempty"`
}

// Count is on when at least Min distinct entities (reports, cameras, devices) had their first event of
// Type (with all of Attrs) within Window in one admin area at AreaLevel: later events of an entity
// already counted, such as a report's status changes, are not counted again for a day after its first.
// The alarm's source is "<area_level>:<code>". It may not be combined.
type Count struct {
	Type      string            `yaml:"type" json:"type"`
	Attrs     map[string]string `yaml:"attrs,omitempty" json:"attrs,omitempty"`
	AreaLevel string            `yaml:"area_level" json:"area_level"`
	Min       int               `yaml:"min" json:"min"`
	Window    Duration          `yaml:"window" json:"window"`
}

// Fields lists the telemetry fields each kind may carry; rules on unknown fields are refused. The key
// "*" applies to every kind.
type Fields map[string][]string

// DefaultFields is the known-field list shipped with ioc.
func DefaultFields() Fields {
	return Fields{
		"salinity":    {"salinity", "temperature", "water_level"},
		"water_level": {"water_level", "rain_mm"},
		"air_quality": {"pm25", "pm10", "aqi", "co", "no2", "o3", "so2", "temperature", "humidity"},
		"rain":        {"rain_mm"},
		"traffic":     {"vehicles", "speed", "occupancy"},
		"system":      {"spool_full", "spool_bytes"}, // ioc's own health (the InfluxDB spool)
		"*":           {"battery", "rssi"},
	}
}

// known reports whether field is known for kind (or, with kind "", for any kind).
func (f Fields) known(kind, field string) bool {
	if slices.Contains(f["*"], field) {
		return true
	}
	if kind != "" {
		return slices.Contains(f[kind], field)
	}
	for _, fs := range f {
		if slices.Contains(fs, field) {
			return true
		}
	}
	return false
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ValidateRules checks a rule set: every rule alone, unique IDs, and references between rules (unknown
// or cyclic). Every problem is reported with its path, for example "rules[2] (salinity-high): when.threshold.op: …".
func ValidateRules(rules []Rule, fields Fields) error {
	var errs []error
	ids := map[string]int{}
	for i, r := range rules {
		p := rulePath(i, r)
		if prev, dup := ids[r.ID]; dup && r.ID != "" {
			errs = append(errs, fmt.Errorf("%s: id: duplicate of rules[%d]", p, prev))
		}
		ids[r.ID] = i
		if err := r.validate(fields); err != nil {
			errs = append(errs, prefix(p, err))
		}
	}
	byID := map[string]*Rule{}
	for i := range rules {
		byID[rules[i].ID] = &rules[i]
	}
	for i, r := range rules {
		if err := checkRefs(r.ID, r.When, byID, nil); err != nil {
			errs = append(errs, fmt.Errorf("%s: when: %w", rulePath(i, r), err))
		}
	}
	return errors.Join(errs...)
}

func rulePath(i int, r Rule) string {
	if r.ID == "" {
		return fmt.Sprintf("rules[%d]", i)
	}
	return fmt.Sprintf("rules[%d] (%s)", i, r.ID)
}

// prefix puts p in front of every joined error of err.
func prefix(p string, err error) error {
	var out []error
	for _, e := range unjoin(err) {
		out = append(out, fmt.Errorf("%s: %w", p, e))
	}
	return errors.Join(out...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkRefs follows rule references from cond, failing on unknown IDs and cycles.
func checkRefs(id string, c Condition, byID map[string]*Rule, path []string) error {
	path = append(path, id)
	if c.Rule != "" {
		if slices.Contains(path, c.Rule) {
			return fmt.Errorf("cyclic rule reference %s → %s", strings.Join(path, " → "), c.Rule)
		}
		ref, ok := byID[c.Rule]
		if !ok {
			return fmt.Errorf("rule: unknown rule %q", c.Rule)
		}
		return checkRefs(c.Rule, ref.When, byID, path)
	}
	for _, sub := range slices.Concat(c.All, c.Any) {
		if err := checkRefs(id, sub, byID, path[:len(path)-1]); err != nil {
			return err
		}
	}
	return nil
}

// validate checks one rule on its own (references are checked by ValidateRules).
func (r Rule) validate(fields Fields) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if r.ID == "" {
		add("id", "must be set")
	} else if strings.ContainsAny(r.ID, "/ \t\n?#") {
		add("id", "must not contain spaces, '/', '?' or '#'")
	}
	// A level rule may leave severity out: the severity of its alert level min is the least it raises.
	if severityRank(r.Severity) < 0 && !(r.Severity == "" && r.When.Level != nil) {
		add("severity", "must be one of %s, got %q", strings.Join(severities, ", "), r.Severity)
	}
	if r.Cooldown < 0 {
		add("cooldown", "must not be negative")
	}
	if r.EscalateAfter < 0 {
		add("escalate_after", "must not be negative")
	}
	if r.Schedule != nil {
		r.Schedule.validate(add)
	}
	kinds := r.Scope.Kinds
	if len(kinds) == 0 {
		kinds = []string{""}
	}
	r.When.validate("when", true, kinds, fields, add)
	return errors.Join(errs...)
}

func (s *Schedule) validate(add func(string, string, ...any)) {
	for i, d := range s.Days {
		if _, ok := weekdays[d]; !ok {
			add(fmt.Sprintf("schedule.days[%d]", i), "must be one of mon, tue, wed, thu, fri, sat, sun, got %q", d)
		}
	}
	if len(s.Windows) == 0 {
		add("schedule.windows", "must list at least one window")
	}
	for i, w := range s.Windows {
		p := fmt.Sprintf("schedule.windows[%d]", i)
		from, err1 := parseClock(w.From)
		to, err2 := parseClock(w.To)
		if err1 != nil {
			add(p+".from", "%v", err1)
		}
		if err2 != nil {
			add(p+".to", "%v", err2)
		}
		if err1 == nil && err2 == nil && from == to {
			add(p, "from and to must differ")
		}
	}
}

// parseClock reads "HH:MM" as minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("must be a time of day \"HH:MM\", got %q", s)
	}
	return hh*60 + mm, nil
}

func (c Condition) validate(p string, top bool, kinds []string, fields Fields, add func(string, string, ...any)) {
	set := 0
	for _, b := range []bool{c.Threshold != nil, c.Level != nil, c.Rate != nil, c.Offline != nil, c.Label != nil,
		c.Count != nil, c.All != nil, c.Any != nil, c.Rule != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		add(p, "must set exactly one of threshold, level, rate, offline, label, count, all, any, rule (got %d)", set)
		return
	}
	field := func(fp, f string) {
		if f == "" {
			add(fp, "must be set")
			return
		}
		for _, k := range kinds {
			if !fields.known(k, f) {
				if k == "" {
					add(fp, "unknown field %q for every kind", f)
				} else {
					add(fp, "unknown field %q for kind %q", f, k)
				}
			}
		}
	}
	finite := func(fp string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			add(fp, "must be a finite number")
		}
	}
	switch {
	case c.Threshold != nil:
		t := c.Threshold
		p += ".threshold"
		field(p+".field", t.Field)
		finite(p+".value", t.Value)
		if !slices.Contains(operators, t.Op) {
			add(p+".op", "must be one of >, >=, <, <=, got %q", t.Op)
		} else if t.Clear != nil {
			finite(p+".clear", *t.Clear)
			cl := *t.Clear
			switch t.Op {
			case ">":
				if cl > t.Value {
					add(p+".clear", "%g is above the threshold %g: it must be at or below it for >", cl, t.Value)
				}
			case ">=":
				if cl >= t.Value {
					add(p+".clear", "%g is not below the threshold %g: it must be below it for >=", cl, t.Value)
				}
			case "<":
				if cl < t.Value {
					add(p+".clear", "%g is below the threshold %g: it must be at or above it for <", cl, t.Value)
				}
			case "<=":
				if cl <= t.Value {
					add(p+".clear", "%g is not above the threshold %g: it must be above it for <=", cl, t.Value)
				}
			}
		}
		if t.For < 0 {
			add(p+".for", "must not be negative")
		}
	case c.Level != nil:
		l := c.Level
		p += ".level"
		f := l.Field
		if f == "" {
			f = "water_level"
		}
		field(p+".field", f)
		if l.Min < 1 || l.Min > 3 {
			add(p+".min", "must be 1, 2 or 3 (alert level I, II or III), got %d", l.Min)
		}
		if len(l.Levels) != 0 && len(l.Levels) != 3 {
			add(p+".levels", "must list the three alert levels I, II and III, got %d", len(l.Levels))
		}
		for i := 1; i < len(l.Levels); i++ {
			if l.Levels[i] <= l.Levels[i-1] {
				add(p+".levels", "must increase (I < II < III), got %v", l.Levels)
				break
			}
		}
		if len(l.Severities) != 0 && len(l.Severities) != 3 {
			add(p+".severities", "must list three severities for levels I, II and III")
		}
		for i, s := range l.Severities {
			if severityRank(s) < 0 {
				add(fmt.Sprintf("%s.severities[%d]", p, i), "must be one of %s, got %q", strings.Join(severities, ", "), s)
			}
		}
		if l.ClearMargin < 0 {
			add(p+".clear_margin", "must not be negative")
		}
		if l.For < 0 {
			add(p+".for", "must not be negative")
		}
	case c.Rate != nil:
		p += ".rate"
		field(p+".field", c.Rate.Field)
		finite(p+".delta", c.Rate.Delta)
		if c.Rate.Delta == 0 {
			add(p+".delta", "must not be zero (positive for a rise, negative for a fall)")
		}
		if c.Rate.Per <= 0 {
			add(p+".per", "must be positive")
		}
	case c.Offline != nil:
		if !top {
			add(p+".offline", "cannot be combined with other conditions")
		}
		if c.Offline.After <= 0 {
			add(p+".offline.after", "must be positive")
		}
	case c.Label != nil:
		if len(c.Label.Labels) == 0 {
			add(p+".label.labels", "must list at least one label")
		}
	case c.Count != nil:
		ct := c.Count
		p += ".count"
		if !top {
			add(p, "cannot be combined with other conditions")
		}
		if ct.Type == "" {
			add(p+".type", "must be set (for example report)")
		}
		if ct.AreaLevel == "" {
			add(p+".area_level", "must be set (for example commune)")
		}
		if ct.Min < 1 {
			add(p+".min", "must be at least 1")
		}
		if ct.Window <= 0 {
			add(p+".window", "must be positive")
		}
	case c.All != nil || c.Any != nil:
		subs, name := c.All, "all"
		if c.Any != nil {
			subs, name = c.Any, "any"
		}
		if len(subs) == 0 {
			add(p+"."+name, "must list at least one condition")
		}
		for i, s := range subs {
			s.validate(fmt.Sprintf("%s.%s[%d]", p, name, i), false, kinds, fields, add)
		}
	}
}
