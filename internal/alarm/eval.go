package alarm

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// compiled is a validated rule ready for fast evaluation: references inlined, leaves numbered, schedule
// parsed, scope turned into sets.
type compiled struct {
	Rule
	root     node
	leaves   []leafSpec
	types    []string // event types the rule looks at
	offline  *Offline
	count    *Count
	devices  map[string]bool
	areas    map[string]bool
	sched    *schedule
	cooldown time.Duration
	escalate time.Duration
	order    int // position in the rule set: rules are evaluated in this order
}

// node is a condition tree over leaves.
type node struct {
	leaf int    // index into compiled.leaves when kids is nil
	op   string // "leaf", "all", "any"
	kids []node
}

type leafSpec struct {
	threshold *Threshold
	level     *Level
	rate      *Rate
	label     *Label
}

func (l leafSpec) eventType() string {
	if l.label != nil {
		return stream.TypeCamera
	}
	return stream.TypeTelemetry
}

// ruleSet is an immutable compiled rule set with an index by event type and kind.
type ruleSet struct {
	all     []*compiled
	byID    map[string]*compiled
	byKind  map[string]map[string][]*compiled // type → kind → rules scoped to that kind
	anyKind map[string][]*compiled            // type → rules for every kind
	offline []*compiled
	// The same lists indexed for sources that hold no state (see quiet).
	quietKind map[string]map[string]*quietList
	quietAny  map[string]*quietList
}

// quietList indexes a candidate list for a source that holds no state in any rule: a single-threshold
// rule can only leave state (pending or on) when the event crosses its limit, so only crossed limits
// are looked at; the other rules are evaluated as usual.
type quietList struct {
	rest   []*compiled  // rules that are not a single threshold
	fields []quietField // single-threshold rules by field
}

type quietField struct {
	field string
	up    []quietRule // > and >= rules, by limit ascending
	down  []quietRule // < and <= rules, by limit descending
}

type quietRule struct {
	limit float64
	op    string
	c     *compiled
}

// singleThreshold is the threshold of a rule whose whole condition is one threshold leaf.
func (c *compiled) singleThreshold() *Threshold {
	if c.count != nil || c.offline != nil || len(c.leaves) != 1 || c.leaves[0].threshold == nil {
		return nil
	}
	return c.leaves[0].threshold
}

func newQuietList(rules []*compiled) *quietList {
	q := &quietList{}
	byField := map[string]int{}
	for _, c := range rules {
		th := c.singleThreshold()
		if th == nil || !slices.Contains([]string{">", ">=", "<", "<="}, th.Op) {
			q.rest = append(q.rest, c)
			continue
		}
		i, ok := byField[th.Field]
		if !ok {
			i = len(q.fields)
			byField[th.Field] = i
			q.fields = append(q.fields, quietField{field: th.Field})
		}
		r := quietRule{limit: th.Value, op: th.Op, c: c}
		if th.Op == ">" || th.Op == ">=" {
			q.fields[i].up = append(q.fields[i].up, r)
		} else {
			q.fields[i].down = append(q.fields[i].down, r)
		}
	}
	for _, f := range q.fields {
		slices.SortStableFunc(f.up, func(a, b quietRule) int { return cmp.Compare(a.limit, b.limit) })
		slices.SortStableFunc(f.down, func(a, b quietRule) int { return cmp.Compare(b.limit, a.limit) })
	}
	return q
}

// appendCandidates appends to dst every rule of the list that may act on ev from a source with no
// state: the rules that are not single thresholds, and the thresholds ev crosses.
func (q *quietList) appendCandidates(dst []*compiled, ev *stream.Event) []*compiled {
	dst = append(dst, q.rest...)
	for i := range q.fields {
		f := &q.fields[i]
		v, ok := ev.Values[f.field]
		if !ok {
			continue
		}
		for _, r := range f.up {
			if r.limit > v {
				break
			}
			if compare(r.op, v, r.limit) {
				dst = append(dst, r.c)
			}
		}
		for _, r := range f.down {
			if r.limit < v {
				break
			}
			if compare(r.op, v, r.limit) {
				dst = append(dst, r.c)
			}
		}
	}
	return dst
}

// quiet returns the indexed candidate lists (scoped to kind, then for every kind) for a source with
// no state.
func (rs *ruleSet) quiet(typ, kind string) (*quietList, *quietList) {
	return rs.quietKind[typ][kind], rs.quietAny[typ]
}

// candidates returns the rules (other than offline ones) that may look at an event of type typ and kind.
func (rs *ruleSet) candidates(typ, kind string) ([]*compiled, []*compiled) {
	return rs.byKind[typ][kind], rs.anyKind[typ]
}

// compileRules validates and compiles rules with defaults for cooldown and escalation.
func compileRules(rules []Rule, fields Fields, cooldown, escalate time.Duration) (*ruleSet, error) {
	if err := ValidateRules(rules, fields); err != nil {
		return nil, err
	}
	byID := map[string]Rule{}
	for _, r := range rules {
		byID[r.ID] = r
	}
	rs := &ruleSet{byID: map[string]*compiled{}, byKind: map[string]map[string][]*compiled{}, anyKind: map[string][]*compiled{}}
	var errs []string
	for i, r := range rules {
		c, err := compileRule(r, byID, cooldown, escalate)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: when: %v", rulePath(i, r), err))
			continue
		}
		if r.Disabled {
			continue
		}
		c.order = len(rs.all)
		rs.all = append(rs.all, c)
		rs.byID[c.ID] = c
		if c.offline != nil {
			rs.offline = append(rs.offline, c)
			continue
		}
		for _, typ := range c.types {
			if len(r.Scope.Kinds) == 0 {
				rs.anyKind[typ] = append(rs.anyKind[typ], c)
				continue
			}
			if rs.byKind[typ] == nil {
				rs.byKind[typ] = map[string][]*compiled{}
			}
			for _, k := range r.Scope.Kinds {
				rs.byKind[typ][k] = append(rs.byKind[typ][k], c)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	rs.quietKind, rs.quietAny = map[string]map[string]*quietList{}, map[string]*quietList{}
	for typ, kinds := range rs.byKind {
		rs.quietKind[typ] = map[string]*quietList{}
		for k, rules := range kinds {
			rs.quietKind[typ][k] = newQuietList(rules)
		}
	}
	for typ, rules := range rs.anyKind {
		rs.quietAny[typ] = newQuietList(rules)
	}
	return rs, nil
}

func compileRule(r Rule, byID map[string]Rule, cooldown, escalate time.Duration) (*compiled, error) {
	c := &compiled{Rule: r, cooldown: cooldown, escalate: escalate}
	if c.Severity == "" && r.When.Level != nil {
		c.Severity = levelSeverities(r.When.Level)[max(r.When.Level.Min, 1)-1]
	}
	if r.Cooldown > 0 {
		c.cooldown = r.Cooldown.D()
	}
	if r.EscalateAfter > 0 {
		c.escalate = r.EscalateAfter.D()
	}
	c.devices = set(r.Scope.Devices)
	c.areas = set(r.Scope.Areas)
	if r.Schedule != nil {
		c.sched = parseSchedule(r.Schedule)
	}
	when := resolve(r.When, byID)
	switch {
	case when.Offline != nil:
		c.offline = when.Offline
		return c, nil
	case when.Count != nil:
		c.count = when.Count
		c.types = []string{when.Count.Type}
		return c, nil
	}
	root, err := c.build(when, byID)
	if err != nil {
		return nil, err
	}
	c.root = root
	for _, l := range c.leaves {
		if !slices.Contains(c.types, l.eventType()) {
			c.types = append(c.types, l.eventType())
		}
	}
	return c, nil
}

// resolve follows rule references (ValidateRules has ruled out cycles).
func resolve(c Condition, byID map[string]Rule) Condition {
	for c.Rule != "" {
		c = byID[c.Rule].When
	}
	return c
}

func (c *compiled) build(cond Condition, byID map[string]Rule) (node, error) {
	cond = resolve(cond, byID)
	leaf := func(l leafSpec) node {
		c.leaves = append(c.leaves, l)
		return node{op: "leaf", leaf: len(c.leaves) - 1}
	}
	switch {
	case cond.Threshold != nil:
		return leaf(leafSpec{threshold: cond.Threshold}), nil
	case cond.Level != nil:
		return leaf(leafSpec{level: cond.Level}), nil
	case cond.Rate != nil:
		return leaf(leafSpec{rate: cond.Rate}), nil
	case cond.Label != nil:
		return leaf(leafSpec{label: cond.Label}), nil
	case cond.Offline != nil, cond.Count != nil:
		return node{}, fmt.Errorf("offline and count conditions cannot be combined with others (also through a rule reference)")
	}
	subs, op := cond.All, "all"
	if cond.Any != nil {
		subs, op = cond.Any, "any"
	}
	n := node{op: op}
	for _, s := range subs {
		k, err := c.build(s, byID)
		if err != nil {
			return node{}, err
		}
		n.kids = append(n.kids, k)
	}
	return n, nil
}

func set(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// inScope reports whether the rule looks at events from ev's entity (devices and areas; kinds are
// handled by the index).
func (c *compiled) inScope(ev *stream.Event) bool {
	if c.devices != nil && !c.devices[ev.Entity] {
		return false
	}
	if c.areas != nil {
		for _, code := range ev.Areas {
			if c.areas[code] {
				return true
			}
		}
		return false
	}
	return true
}

// schedule is a parsed Schedule.
type schedule struct {
	days    [7]bool
	windows [][2]int // minutes after midnight
}

func parseSchedule(s *Schedule) *schedule {
	out := &schedule{}
	for _, d := range s.Days {
		out.days[weekdays[d]] = true
	}
	if len(s.Days) == 0 {
		out.days = [7]bool{true, true, true, true, true, true, true}
	}
	for _, w := range s.Windows {
		from, _ := parseClock(w.From) // checked by Validate
		to, _ := parseClock(w.To)
		out.windows = append(out.windows, [2]int{from, to})
	}
	return out
}

// allows reports whether t falls in a window on an allowed day (Vietnam time). An overnight window
// belongs to the day it starts on.
func (s *schedule) allows(t time.Time) bool {
	if s == nil {
		return true
	}
	lt := t.In(Vietnam)
	m := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	for _, w := range s.windows {
		from, to := w[0], w[1]
		switch {
		case from < to:
			if m >= from && m < to && s.days[day] {
				return true
			}
		default: // over midnight
			if m >= from && s.days[day] {
				return true
			}
			if m < to && s.days[(day+6)%7] {
				return true
			}
		}
	}
	return false
}

// leafState is the latched value of one leaf for one source.
type leafState struct {
	on      bool
	pending time.Time // when the trigger started holding while off (min duration)
	sev     string    // level leaves: severity of the highest level reached
	samples []sample  // rate leaves: values within Per
}

type sample struct {
	t time.Time
	v float64
}

// maxSamples bounds the memory a rate leaf keeps per source.
const maxSamples = 512

// observation is what a leaf saw in an event: the value it tested, if any.
type observation struct {
	field string
	value float64
}

// evalLeaf updates ls from ev and reports whether the leaf applied to the event at all.
func evalLeaf(l leafSpec, ls *leafState, ev *stream.Event, meta func(string) map[string]string) (observation, bool) {
	t := ev.Time
	switch {
	case l.threshold != nil:
		th := l.threshold
		v, ok := ev.Values[th.Field]
		if !ok {
			return observation{}, false
		}
		trig := compare(th.Op, v, th.Value)
		var cleared bool
		if th.Clear == nil {
			cleared = !trig
		} else if th.Op == ">" || th.Op == ">=" {
			cleared = v <= *th.Clear
		} else {
			cleared = v >= *th.Clear
		}
		hold(ls, trig, cleared, t, th.For.D())
		return observation{th.Field, v}, true
	case l.level != nil:
		lv := l.level
		field := lv.Field
		if field == "" {
			field = "water_level"
		}
		v, ok := ev.Values[field]
		if !ok {
			return observation{}, false
		}
		levels := lv.Levels
		if len(levels) == 0 {
			levels = metaLevels(meta, ev.Entity)
		}
		if len(levels) != 3 {
			return observation{}, false // no alert levels known for this station
		}
		reached := 0
		for i, lim := range levels {
			if v >= lim {
				reached = i + 1
			}
		}
		sevs := levelSeverities(lv)
		trig := reached >= lv.Min
		hold(ls, trig, v < levels[lv.Min-1]-lv.ClearMargin, t, lv.For.D())
		if ls.on && reached > 0 && severityRank(sevs[reached-1]) > severityRank(ls.sev) {
			ls.sev = sevs[reached-1]
		}
		if !ls.on {
			ls.sev = ""
		}
		return observation{field, v}, true
	case l.rate != nil:
		r := l.rate
		v, ok := ev.Values[r.Field]
		if !ok {
			return observation{}, false
		}
		cut := t.Add(-r.Per.D())
		i := 0
		for i < len(ls.samples) && ls.samples[i].t.Before(cut) {
			i++
		}
		ls.samples = append(ls.samples[i:], sample{t, v})
		if len(ls.samples) > maxSamples {
			ls.samples = ls.samples[len(ls.samples)-maxSamples:]
		}
		change := v - ls.samples[0].v
		ls.on = (r.Delta > 0 && change >= r.Delta) || (r.Delta < 0 && change <= r.Delta)
		return observation{r.Field, change}, true
	case l.label != nil:
		if ev.Type != stream.TypeCamera || !slices.Contains(l.label.Labels, ev.Attrs["label"]) {
			return observation{}, false
		}
		in := len(l.label.Zones) == 0
		for z := range strings.SplitSeq(ev.Attrs["zones"], ",") {
			in = in || slices.Contains(l.label.Zones, strings.TrimSpace(z))
		}
		ls.on = in && ev.Attrs["state"] != "ended"
		return observation{"confidence", ev.Values["confidence"]}, true
	}
	return observation{}, false
}

// hold latches a leaf with hysteresis and a minimum duration: it turns on once trig has held for at
// least minFor (by event time), and off once cleared is true.
func hold(ls *leafState, trig, cleared bool, t time.Time, minFor time.Duration) {
	if ls.on {
		if cleared {
			ls.on = false
		}
		return
	}
	if !trig {
		ls.pending = time.Time{}
		return
	}
	if ls.pending.IsZero() {
		ls.pending = t
	}
	if t.Sub(ls.pending) >= minFor {
		ls.on = true
		ls.pending = time.Time{}
	}
}

func compare(op string, v, limit float64) bool {
	switch op {
	case ">":
		return v > limit
	case ">=":
		return v >= limit
	case "<":
		return v < limit
	case "<=":
		return v <= limit
	}
	return false
}

// metaLevels reads alert_level_1..3 from device metadata.
func metaLevels(meta func(string) map[string]string, entity string) []float64 {
	if meta == nil {
		return nil
	}
	md := meta(entity)
	out := make([]float64, 0, 3)
	for _, k := range []string{"alert_level_1", "alert_level_2", "alert_level_3"} {
		v, err := strconv.ParseFloat(md[k], 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// value reports whether the condition tree is on.
func (n node) value(leaves []leafState) bool {
	switch n.op {
	case "leaf":
		return leaves[n.leaf].on
	case "all":
		for _, k := range n.kids {
			if !k.value(leaves) {
				return false
			}
		}
		return true
	default:
		for _, k := range n.kids {
			if k.value(leaves) {
				return true
			}
		}
		return false
	}
}

// levelSeverities is the severity of each alert level I, II, III of a level condition.
func levelSeverities(lv *Level) []string {
	if len(lv.Severities) == 3 {
		return lv.Severities
	}
	return []string{SeverityMinor, SeverityMajor, SeverityCritical}
}
