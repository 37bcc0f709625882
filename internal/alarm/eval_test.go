package alarm

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// fakeClock is the engine clock of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func testConfig(rules ...Rule) Config {
	cfg := Defaults()
	cfg.Rules = rules
	cfg.Cooldown = 0
	cfg.EscalateAfter = 0
	cfg.Notify.InitialBackoff = time.Millisecond
	cfg.Notify.MaxBackoff = 4 * time.Millisecond
	return cfg
}

func newEngine(t *testing.T, cfg Config, s Store, clock *fakeClock) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg, s, Options{Now: clock.Now, Metadata: func(id string) map[string]string {
		if id == "river-1" {
			return map[string]string{"alert_level_1": "1.5", "alert_level_2": "1.8", "alert_level_3": "2.1"}
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	return e
}

func sqliteStore(t *testing.T) Store {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// drain returns the ops of the transitions queued so far, as "raise:source[:severity]".
func drain(e *Engine) []string {
	var out []string
	for {
		select {
		case tr := <-e.in:
			s := tr.op + ":" + tr.source
			if tr.op != ActionClear {
				s += ":" + tr.severity
			}
			out = append(out, s)
		default:
			return out
		}
	}
}

func tele(entity, kind string, at time.Duration, field string, v float64) stream.Event {
	return stream.Event{Entity: entity, Kind: kind, Type: stream.TypeTelemetry, Time: t0.Add(at),
		Values: map[string]float64{field: v}, Areas: map[string]string{"province": "83", "district": "829", "commune": "28756"}}
}

func camera(entity string, at time.Duration, label, zones, state string) stream.Event {
	return stream.Event{Entity: entity, Kind: "camera", Type: stream.TypeCamera, Time: t0.Add(at),
		Attrs: map[string]string{"label": label, "zones": zones, "state": state}}
}

func report(at time.Duration, category, commune string) stream.Event {
	return reportStatus(fmt.Sprintf("rp-%d", at), at, category, commune, "open")
}

// reportStatus is an event of report entity at a status (a report announces every status change).
func reportStatus(entity string, at time.Duration, category, commune, status string) stream.Event {
	return stream.Event{Entity: entity, Kind: "report", Type: stream.TypeReport, Time: t0.Add(at),
		Attrs: map[string]string{"category": category, "status": status}, Areas: map[string]string{"province": "83", "commune": commune}}
}

func f64(v float64) *float64 { return &v }

func TestRuleEvaluation(t *testing.T) {
	salinity := Rule{ID: "sal", Severity: SeverityMajor, Scope: Scope{Kinds: []string{"salinity"}},
		When: Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4, Clear: f64(3.5)}}}
	salFor := salinity
	salFor.When = Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4, Clear: f64(3.5), For: Duration(10 * time.Minute)}}
	pm := Rule{ID: "pm", Severity: SeverityMinor, When: Condition{Threshold: &Threshold{Field: "pm25", Op: ">=", Value: 55, For: Duration(15 * time.Minute)}}}
	low := Rule{ID: "low", Severity: SeverityWarning, When: Condition{Threshold: &Threshold{Field: "water_level", Op: "<", Value: 0.5, Clear: f64(0.7)}}}
	level := Rule{ID: "river", Severity: SeverityWarning, When: Condition{Level: &Level{Min: 1, ClearMargin: 0.1}}}
	levelRule := Rule{ID: "river2", Severity: SeverityWarning, When: Condition{Level: &Level{Min: 2, Levels: []float64{1, 2, 3}}}}
	levelNoSev := Rule{ID: "river3", When: Condition{Level: &Level{Min: 2, Levels: []float64{1, 2, 3}}}}
	rate := Rule{ID: "rise", Severity: SeverityMajor, When: Condition{Rate: &Rate{Field: "water_level", Delta: 0.3, Per: Duration(time.Hour)}}}
	person := Rule{ID: "person", Severity: SeverityMajor, Schedule: &Schedule{Windows: []Window{{From: "22:00", To: "05:00"}}},
		When: Condition{Label: &Label{Labels: []string{"person"}, Zones: []string{"kho-bac"}}}}
	fire := Rule{ID: "fire", Severity: SeverityCritical, When: Condition{Label: &Label{Labels: []string{"fire", "smoke"}}}}
	flood := Rule{ID: "flood", Severity: SeverityMajor, When: Condition{Count: &Count{Type: stream.TypeReport,
		Attrs: map[string]string{"category": "flooding"}, AreaLevel: "commune", Min: 5, Window: Duration(time.Hour)}}}
	and := Rule{ID: "and", Severity: SeverityMajor, When: Condition{All: []Condition{
		{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4}},
		{Threshold: &Threshold{Field: "temperature", Op: ">", Value: 30}}}}}
	or := Rule{ID: "or", Severity: SeverityMajor, When: Condition{Any: []Condition{
		{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4}}, {Rule: "low"}}}}
	cool := salinity
	cool.ID, cool.Cooldown = "cool", Duration(30*time.Minute)
	scoped := salinity
	scoped.ID, scoped.Scope = "scoped", Scope{Devices: []string{"sal-9"}, Areas: []string{"829"}}

	night := time.Date(2026, 3, 10, 23, 0, 0, 0, Vietnam).Sub(t0) // 23:00 local
	early := time.Date(2026, 3, 11, 4, 59, 0, 0, Vietnam).Sub(t0)

	type step struct {
		ev   stream.Event
		want string // transitions, comma-separated; "" for none
	}
	tests := []struct {
		name  string
		rules []Rule
		steps []step
	}{
		{"threshold exactly at threshold does not raise", []Rule{salinity}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 4), ""},
			{tele("sal-1", "salinity", time.Minute, "salinity", 4.01), "raise:sal-1:major"},
		}},
		{"hysteresis: between clear and threshold stays raised, exactly at clear clears", []Rule{salinity}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 5), "raise:sal-1:major"},
			{tele("sal-1", "salinity", time.Minute, "salinity", 3.9), ""},
			{tele("sal-1", "salinity", 2*time.Minute, "salinity", 3.51), ""},
			{tele("sal-1", "salinity", 3*time.Minute, "salinity", 3.5), "clear:sal-1"},
			{tele("sal-1", "salinity", 4*time.Minute, "salinity", 3.9), ""},
			{tele("sal-1", "salinity", 5*time.Minute, "salinity", 4.2), "raise:sal-1:major"},
		}},
		{"min duration: raise exactly when held for 10 min", []Rule{salFor}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 4.5), ""},
			{tele("sal-1", "salinity", 9*time.Minute+59*time.Second, "salinity", 4.5), ""},
			{tele("sal-1", "salinity", 10*time.Minute, "salinity", 4.5), "raise:sal-1:major"},
		}},
		{"min duration restarts when the condition breaks", []Rule{salFor}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 4.5), ""},
			{tele("sal-1", "salinity", 5*time.Minute, "salinity", 4), ""},
			{tele("sal-1", "salinity", 6*time.Minute, "salinity", 4.5), ""},
			{tele("sal-1", "salinity", 15*time.Minute, "salinity", 4.5), ""},
			{tele("sal-1", "salinity", 16*time.Minute, "salinity", 4.5), "raise:sal-1:major"},
		}},
		{"pm2.5 >= 55 for 15 min, no clear value", []Rule{pm}, []step{
			{tele("aq-1", "air_quality", 0, "pm25", 55), ""},
			{tele("aq-1", "air_quality", 15*time.Minute, "pm25", 60), "raise:aq-1:minor"},
			{tele("aq-1", "air_quality", 16*time.Minute, "pm25", 55), ""},
			{tele("aq-1", "air_quality", 17*time.Minute, "pm25", 54.9), "clear:aq-1"},
		}},
		{"below threshold with clear above", []Rule{low}, []step{
			{tele("w-1", "water_level", 0, "water_level", 0.5), ""},
			{tele("w-1", "water_level", time.Minute, "water_level", 0.49), "raise:w-1:warning"},
			{tele("w-1", "water_level", 2*time.Minute, "water_level", 0.69), ""},
			{tele("w-1", "water_level", 3*time.Minute, "water_level", 0.7), "clear:w-1"},
		}},
		{"water alert levels from device metadata, severity follows the level", []Rule{level}, []step{
			{tele("river-1", "water_level", 0, "water_level", 1.49), ""},
			{tele("river-1", "water_level", time.Minute, "water_level", 1.5), "raise:river-1:minor"},
			{tele("river-1", "water_level", 2*time.Minute, "water_level", 1.8), "upgrade:river-1:major"},
			{tele("river-1", "water_level", 3*time.Minute, "water_level", 2.2), "upgrade:river-1:critical"},
			{tele("river-1", "water_level", 4*time.Minute, "water_level", 1.4), ""},
			{tele("river-1", "water_level", 5*time.Minute, "water_level", 1.39), "clear:river-1"},
			{tele("other", "water_level", 6*time.Minute, "water_level", 9), ""}, // no levels known
		}},
		{"water alert levels from the rule", []Rule{levelRule}, []step{
			{tele("w-2", "water_level", 0, "water_level", 1.5), ""},
			{tele("w-2", "water_level", time.Minute, "water_level", 2), "raise:w-2:major"},
			{tele("w-2", "water_level", 2*time.Minute, "water_level", 1.99), "clear:w-2"},
		}},
		{"a level rule without severity raises its alert level's", []Rule{levelNoSev}, []step{
			{tele("w-4", "water_level", 0, "water_level", 2.5), "raise:w-4:major"},
			{tele("w-4", "water_level", time.Minute, "water_level", 3), "upgrade:w-4:critical"},
		}},
		{"rate of change per hour", []Rule{rate}, []step{
			{tele("w-3", "water_level", 0, "water_level", 1.0), ""},
			{tele("w-3", "water_level", 30*time.Minute, "water_level", 1.29), ""},
			{tele("w-3", "water_level", 60*time.Minute, "water_level", 1.3), "raise:w-3:major"},
			{tele("w-3", "water_level", 90*time.Minute, "water_level", 1.35), "clear:w-3"}, // 1.35 - 1.29 < 0.3
		}},
		{"person in zone only at night", []Rule{person}, []step{
			{camera("cam-1", 0, "person", "kho-bac", "active"), ""},  // 08:00
			{camera("cam-1", night, "person", "san", "active"), ""},  // other zone
			{camera("cam-1", night, "car", "kho-bac", "active"), ""}, // other label
			{camera("cam-1", night, "person", "san,kho-bac", "active"), "raise:cam-1:major"},
			{camera("cam-1", early, "person", "kho-bac", "ended"), "clear:cam-1"},
			{camera("cam-1", early, "person", "kho-bac", "active"), "raise:cam-1:major"}, // 04:59 still night
		}},
		{"fire or smoke any time", []Rule{fire}, []step{
			{camera("cam-2", 0, "smoke", "", "active"), "raise:cam-2:critical"},
			{camera("cam-2", time.Minute, "fire", "", "active"), ""},
			{camera("cam-2", 2*time.Minute, "fire", "", "ended"), "clear:cam-2"},
		}},
		{"a report moving through its statuses counts once", []Rule{flood}, []step{
			{reportStatus("rp-a", 0, "flooding", "28756", "new"), ""},
			{reportStatus("rp-b", time.Minute, "flooding", "28756", "new"), ""},
			{reportStatus("rp-a", 2*time.Minute, "flooding", "28756", "triaged"), ""},
			{reportStatus("rp-a", 3*time.Minute, "flooding", "28756", "assigned"), ""},
			{reportStatus("rp-a", 4*time.Minute, "flooding", "28756", "in_progress"), ""},
			{reportStatus("rp-b", 5*time.Minute, "flooding", "28756", "triaged"), ""},
			{reportStatus("rp-a", 6*time.Minute, "flooding", "28756", "resolved"), ""},  // 7 events, 2 reports
			{reportStatus("rp-a", 90*time.Minute, "flooding", "28756", "reopened"), ""}, // out of the window: still not new
			{reportStatus("rp-c", 91*time.Minute, "flooding", "28756", "new"), ""},
			{reportStatus("rp-d", 92*time.Minute, "flooding", "28756", "new"), ""},
			{reportStatus("rp-e", 93*time.Minute, "flooding", "28756", "new"), ""},
			{reportStatus("rp-f", 94*time.Minute, "flooding", "28756", "new"), ""},
			{reportStatus("rp-g", 95*time.Minute, "flooding", "28756", "new"), "raise:commune:28756:major"},
		}},
		{"five flooding reports in a commune within an hour", []Rule{flood}, []step{
			{report(0, "flooding", "28756"), ""},
			{report(10*time.Minute, "flooding", "28756"), ""},
			{report(20*time.Minute, "pothole", "28756"), ""},
			{report(20*time.Minute, "flooding", "28757"), ""},
			{report(30*time.Minute, "flooding", "28756"), ""},
			{report(40*time.Minute, "flooding", "28756"), ""},
			{report(59*time.Minute, "flooding", "28756"), "raise:commune:28756:major"},
			{report(70*time.Minute, "flooding", "28756"), ""},                     // first one left the window, still 5
			{report(125*time.Minute, "flooding", "28756"), "clear:commune:28756"}, // only 2 in the last hour
		}},
		{"AND needs both fields, from separate messages", []Rule{and}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 5), ""},
			{tele("sal-1", "salinity", time.Minute, "temperature", 31), "raise:sal-1:major"},
			{tele("sal-1", "salinity", 2*time.Minute, "temperature", 29), "clear:sal-1"},
		}},
		{"OR through a rule reference", []Rule{low, or}, []step{
			{tele("w-1", "water_level", 0, "water_level", 0.4), "raise:w-1:warning,raise:w-1:major"},
			{tele("w-1", "water_level", time.Minute, "water_level", 0.8), "clear:w-1,clear:w-1"},
		}},
		{"cooldown after clear suppresses re-raise", []Rule{cool}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 5), "raise:sal-1:major"},
			{tele("sal-1", "salinity", time.Minute, "salinity", 3), "clear:sal-1"},
			{tele("sal-1", "salinity", 10*time.Minute, "salinity", 5), ""},
			{tele("sal-1", "salinity", 30*time.Minute, "salinity", 5), ""},
			{tele("sal-1", "salinity", 31*time.Minute, "salinity", 5), "raise:sal-1:major"},
		}},
		{"scope by device and area", []Rule{scoped}, []step{
			{tele("sal-1", "salinity", 0, "salinity", 5), ""},
			{tele("sal-9", "salinity", 0, "salinity", 5), "raise:sal-9:major"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, testConfig(tt.rules...), sqliteStore(t), &fakeClock{t: t0})
			for i, s := range tt.steps {
				ev := s.ev
				if err := e.Process(context.Background(), &ev); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := strings.Join(drain(e), ","); got != s.want {
					t.Fatalf("step %d (%v %v %v): transitions %q, want %q", i, ev.Entity, ev.Values, ev.Attrs, got, s.want)
				}
			}
		})
	}
}

// TestStaleEventsRaiseNothing: a reading older than max_event_age (a backlog, a device's stored history)
// is not evaluated; a current one is, and the stale one is counted.
func TestStaleEventsRaiseNothing(t *testing.T) {
	salinity := Rule{ID: "sal", Severity: SeverityMajor, When: Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4}}}
	clock := &fakeClock{t: t0}
	cfg := testConfig(salinity)
	cfg.MaxEventAge = 6 * time.Hour
	e := newEngine(t, cfg, sqliteStore(t), clock)
	old := tele("sal-1", "salinity", -7*time.Hour, "salinity", 9)
	e.Process(context.Background(), &old)
	if got := strings.Join(drain(e), ","); got != "" {
		t.Fatalf("a 7-hour-old reading raised %q", got)
	}
	if n := testutil.ToFloat64(e.m.stale); n != 1 {
		t.Fatalf("stale events counted %v, want 1", n)
	}
	now := tele("sal-1", "salinity", -time.Minute, "salinity", 9)
	e.Process(context.Background(), &now)
	if got := strings.Join(drain(e), ","); got != "raise:sal-1:major" {
		t.Fatalf("a current reading: %q, want a raise", got)
	}
}

func TestOfflineRule(t *testing.T) {
	clock := &fakeClock{t: t0}
	offline := Rule{ID: "offline", Severity: SeverityMinor, Scope: Scope{Kinds: []string{"salinity"}, Devices: []string{"sal-1", "sal-never"}},
		When: Condition{Offline: &Offline{After: Duration(10 * time.Minute)}}}
	e := newEngine(t, testConfig(offline), sqliteStore(t), clock)
	ev := tele("sal-1", "salinity", 0, "salinity", 1)
	e.Process(context.Background(), &ev)
	steps := []struct {
		at   time.Duration
		seen bool
		want string
	}{
		{9 * time.Minute, false, ""},
		{10 * time.Minute, false, "raise:sal-1:minor,raise:sal-never:minor"},
		{11 * time.Minute, true, "clear:sal-1"},
		{20 * time.Minute, false, ""},
		{21 * time.Minute, false, "raise:sal-1:minor"},
	}
	for i, s := range steps {
		clock.Set(t0.Add(s.at))
		if s.seen {
			ev := tele("sal-1", "salinity", s.at, "salinity", 1)
			e.Process(context.Background(), &ev)
		}
		e.tickRules(clock.Now())
		got := drain(e)
		if strings.Join(sorted(got), ",") != s.want {
			t.Fatalf("step %d at +%s: %v, want %s", i, s.at, got, s.want)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestScheduleAllows(t *testing.T) {
	weekdayNight := &Schedule{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Windows: []Window{{From: "22:00", To: "05:00"}}}
	office := &Schedule{Windows: []Window{{From: "07:30", To: "17:00"}}}
	at := func(day, hh, mm int) time.Time { return time.Date(2026, 3, day, hh, mm, 0, 0, Vietnam) } // 2026-03-09 is a Monday
	tests := []struct {
		name string
		s    *Schedule
		t    time.Time
		want bool
	}{
		{"friday 22:00 starts the window", weekdayNight, at(13, 22, 0), true},
		{"saturday 04:59 belongs to friday night", weekdayNight, at(14, 4, 59), true},
		{"saturday 22:00 is not a weekday", weekdayNight, at(14, 22, 0), false},
		{"monday 04:59 belongs to sunday night", weekdayNight, at(9, 4, 59), false},
		{"monday 05:00 window ended", weekdayNight, at(10, 5, 0), false},
		{"office 07:30 inclusive", office, at(10, 7, 30), true},
		{"office 17:00 exclusive", office, at(10, 17, 0), false},
		{"UTC instant converted to Vietnam", office, time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseSchedule(tt.s).allows(tt.t); got != tt.want {
				t.Fatalf("allows(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	ok := Rule{ID: "ok", Severity: SeverityMajor, When: Condition{Threshold: &Threshold{Field: "salinity", Op: ">", Value: 4}}}
	with := func(mod func(r *Rule)) []Rule { r := ok; mod(&r); return []Rule{r} }
	tests := []struct {
		name  string
		rules []Rule
		want  []string // substrings of the error, "" for none
	}{
		{"valid", []Rule{ok}, nil},
		{"unknown field for kind", with(func(r *Rule) {
			r.Scope.Kinds = []string{"air_quality"}
		}), []string{`rules[0] (ok): when.threshold.field: unknown field "salinity" for kind "air_quality"`}},
		{"unknown field anywhere", with(func(r *Rule) {
			r.When.Threshold = &Threshold{Field: "salinty", Op: ">", Value: 4}
		}), []string{`unknown field "salinty"`}},
		{"clear on the wrong side", with(func(r *Rule) {
			r.When.Threshold = &Threshold{Field: "salinity", Op: ">", Value: 4, Clear: f64(4.5)}
		}), []string{"when.threshold.clear: 4.5 is above the threshold 4"}},
		{"clear equal for >= is impossible", with(func(r *Rule) {
			r.When.Threshold = &Threshold{Field: "salinity", Op: ">=", Value: 4, Clear: f64(4)}
		}), []string{"when.threshold.clear"}},
		{"negative durations", with(func(r *Rule) {
			r.When.Threshold = &Threshold{Field: "salinity", Op: ">", Value: 4, For: Duration(-time.Minute)}
			r.Cooldown = Duration(-1)
		}), []string{"when.threshold.for: must not be negative", "cooldown: must not be negative"}},
		{"bad op and severity together", with(func(r *Rule) {
			r.Severity = "urgent"
			r.When.Threshold = &Threshold{Field: "salinity", Op: "=>", Value: 4}
		}), []string{"severity: must be one of", "when.threshold.op"}},
		{"empty condition", with(func(r *Rule) { r.When = Condition{} }), []string{"when: must set exactly one"}},
		{"threshold without severity", with(func(r *Rule) { r.Severity = "" }), []string{"severity: must be one of"}},
		{"level without severity: its levels say it", []Rule{{ID: "lv", When: Condition{Level: &Level{Min: 1}}}}, nil},
		{"empty all", with(func(r *Rule) { r.When = Condition{All: []Condition{}} }), []string{"when.all: must list at least one"}},
		{"offline inside any", with(func(r *Rule) {
			r.When = Condition{Any: []Condition{{Offline: &Offline{After: Duration(time.Minute)}}}}
		}), []string{"when.any[0].offline: cannot be combined"}},
		{"cyclic references", []Rule{
			{ID: "a", Severity: SeverityMinor, When: Condition{Rule: "b"}},
			{ID: "b", Severity: SeverityMinor, When: Condition{Any: []Condition{{Rule: "a"}}}},
		}, []string{"cyclic rule reference a → b → a", "cyclic rule reference b → a → b"}},
		{"self reference", []Rule{{ID: "a", Severity: SeverityMinor, When: Condition{Rule: "a"}}}, []string{"cyclic rule reference a → a"}},
		{"unknown reference", []Rule{{ID: "a", Severity: SeverityMinor, When: Condition{Rule: "zz"}}}, []string{`unknown rule "zz"`}},
		{"duplicate id", []Rule{ok, ok}, []string{"rules[1] (ok): id: duplicate of rules[0]"}},
		{"bad schedule", with(func(r *Rule) {
			r.Schedule = &Schedule{Days: []string{"monday"}, Windows: []Window{{From: "25:00", To: "05:00"}}}
		}), []string{"schedule.days[0]", "schedule.windows[0].from"}},
		{"levels must increase", with(func(r *Rule) {
			r.When = Condition{Level: &Level{Min: 4, Levels: []float64{2, 1, 3}}}
		}), []string{"when.level.min", "when.level.levels: must increase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRules(tt.rules, DefaultFields())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestQuietIndexMatchesFullEvaluation: for sources no rule is watching, the engine evaluates only the
// thresholds an event crosses (and every other kind of rule). Random rule sets and readings must give
// exactly the transitions of evaluating every rule, in the same order.
func TestQuietIndexMatchesFullEvaluation(t *testing.T) {
	ops := []string{">", ">=", "<", "<="}
	fields := []string{"salinity", "water_level"}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			threshold := func() *Threshold {
				th := &Threshold{Field: fields[rng.IntN(2)], Op: ops[rng.IntN(4)], Value: float64(rng.IntN(11))}
				if rng.IntN(3) == 0 {
					th.For = Duration(time.Duration(rng.IntN(3)) * 10 * time.Minute)
				}
				if rng.IntN(3) == 0 {
					c := th.Value - 1
					if th.Op == "<" || th.Op == "<=" {
						c = th.Value + 1
					}
					th.Clear = &c
				}
				return th
			}
			var rules []Rule
			for i := range 60 {
				r := Rule{ID: fmt.Sprintf("r%02d", i), Severity: SeverityMinor, When: Condition{Threshold: threshold()}}
				switch rng.IntN(6) {
				case 0:
					r.When = Condition{All: []Condition{{Threshold: threshold()}, {Threshold: threshold()}}}
				case 1:
					r.When = Condition{Any: []Condition{{Threshold: threshold()}, {Threshold: threshold()}}}
				case 2:
					r.Scope.Kinds = []string{"salinity"}
				}
				rules = append(rules, r)
			}
			clockQ, clockF := &fakeClock{t: t0}, &fakeClock{t: t0}
			quiet := newEngine(t, testConfig(rules...), sqliteStore(t), clockQ)
			full := newEngine(t, testConfig(rules...), sqliteStore(t), clockF)
			full.noQuiet = true
			at := time.Duration(0)
			for i := range 1500 {
				at += time.Duration(rng.IntN(8)) * time.Minute
				kind := []string{"salinity", "water_level"}[rng.IntN(2)]
				ev := tele(fmt.Sprintf("st-%d", rng.IntN(12)), kind, at, fields[rng.IntN(2)], float64(rng.IntN(23))/2)
				if rng.IntN(2) == 0 {
					ev.Values[fields[rng.IntN(2)]] = float64(rng.IntN(23)) / 2
				}
				clockQ.Set(ev.Time)
				clockF.Set(ev.Time)
				evQ, evF := ev, ev
				if err := quiet.Process(context.Background(), &evQ); err != nil {
					t.Fatal(err)
				}
				if err := full.Process(context.Background(), &evF); err != nil {
					t.Fatal(err)
				}
				got, want := strings.Join(drain(quiet), ","), strings.Join(drain(full), ",")
				if got != want {
					t.Fatalf("event %d (%s %v): quiet index gave %q, full evaluation %q", i, ev.Entity, ev.Values, got, want)
				}
			}
		})
	}
}
