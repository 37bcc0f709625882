package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

// Options carries the engine's collaborators. Every field is optional.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for offline rules, count windows and escalations (default time.Now). Threshold,
	// level and rate rules run on event time.
	Now func() time.Time
	// Metadata returns a device's metadata (alert_level_1..3 for level rules), for example from the
	// device registry. It is called in the pipeline goroutine and must not block.
	Metadata func(entity string) map[string]string
	// NewPublisher builds the MQTT notification client (default: paho); tests may swap it.
	NewPublisher func(MQTTTarget) (Publisher, error)
}

// Engine evaluates rules on every event (as a stream.Stage) and keeps alarms in a Store.
//
// Process only updates in-memory rule state under a mutex and queues transitions (raise, clear,
// upgrade) on a bounded queue without blocking; Run performs them against the store, runs the ticker
// (offline rules, count windows, escalations) and emits alarm change events. A transition that does
// not fit in the queue is counted and forgotten, and the rule state stays as it was, so the next
// matching event tries again.
//
// Lock order: rulesMu before mu.
type Engine struct {
	cfg      Config
	fields   Fields
	store    Store
	log      *slog.Logger
	m        *metrics
	now      func() time.Time
	meta     func(string) map[string]string
	notifier *Notifier

	rulesMu   sync.Mutex // serialises rule changes; guards fileRules, apiRules
	fileRules []Rule
	apiRules  []Rule
	rules     atomic.Pointer[ruleSet]

	mu      sync.Mutex // guards states, perSource and scratch
	states  map[stateKey]*srcState
	scratch srcState // evaluates a source with no state yet; kept only if it did not stay idle
	// perSource counts the states of each source, so a message from a source no rule is watching
	// evaluates every rule on scratch state without looking each (rule, source) up.
	perSource map[string]int
	quietBuf  []*compiled // candidates for a source with no state
	noQuiet   bool        // tests: evaluate every candidate rule, as the reference for the quiet index

	in  chan transition
	out chan stream.Event
}

var _ stream.Stage = (*Engine)(nil)

type stateKey struct{ rule, source string }

// srcState is one rule's state for one source.
type srcState struct {
	c        *compiled // the compiled rule leaves belong to
	leaves   []leafState
	latched  bool                 // an alarm is (being) raised for this source
	sev      string               // severity of the latched alarm
	offSince time.Time            // when the condition last cleared (for the cooldown)
	lastSeen time.Time            // offline rules
	counted  map[string]time.Time // count rules: entity → when its first event was counted
	info     sourceInfo
}

// sourceInfo is what an alarm copies from the event that raised it.
type sourceInfo struct {
	kind     string
	location *orb.Point
	areas    map[string]string
}

// transition is a change the pipeline goroutine asks Run to make.
type transition struct {
	op       string // ActionRaise, ActionClear, ActionUpgrade
	rule     *compiled
	source   string
	at       time.Time
	severity string
	obs      observation
	info     sourceInfo
	flushed  chan struct{} // op "flush": closed once everything queued before it was handled and emitted
}

// New builds an engine over store: it compiles the configured rules with those saved through the API,
// and marks the alarms still open in the store as raised, so a restart neither duplicates nor loses them.
func New(ctx context.Context, cfg Config, store Store, opt Options) (*Engine, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	e := &Engine{cfg: cfg, fields: cfg.fields(), store: store, log: opt.Log.With("component", "alarm"),
		m: newMetrics(opt.Registerer), now: opt.Now, meta: opt.Metadata, fileRules: cfg.Rules,
		states: map[stateKey]*srcState{}, perSource: map[string]int{}, in: make(chan transition, cfg.QueueSize), out: make(chan stream.Event, cfg.QueueSize)}
	api, err := store.Rules(ctx)
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	rs, err := compileRules(slices.Concat(e.fileRules, api), e.fields, cfg.Cooldown, cfg.EscalateAfter)
	if err != nil {
		return nil, fmt.Errorf("alarm rules: %w", err)
	}
	e.apiRules = api
	e.install(rs)
	open, err := store.List(ctx, Filter{State: "open", Limit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("alarm: load open alarms: %w", err)
	}
	for _, a := range open {
		st := e.states[stateKey{a.Rule, a.Source}]
		if st == nil {
			st = &srcState{}
			e.keep(stateKey{a.Rule, a.Source}, st)
		}
		st.latched, st.sev = true, a.Severity
		st.info = sourceInfo{kind: a.SourceKind, location: a.Location, areas: a.Areas}
	}
	e.notifier, err = newNotifier(cfg.Notify, store, e.log, e.m, opt.NewPublisher, opt.Now)
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	return e, nil
}

// install makes rs the running rule set and starts the offline clocks of devices named in scopes.
func (e *Engine) install(rs *ruleSet) {
	e.rules.Store(rs)
	e.m.rules.Set(float64(len(rs.all)))
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range rs.offline {
		for _, d := range c.Scope.Devices {
			if st := e.state(c, d); st.lastSeen.IsZero() {
				st.lastSeen = now
			}
		}
	}
}

// state returns the state of rule c for source, resetting leaf state when the rule changed. Leaves of
// a latched state start on, so an alarm opened before a restart or a rule edit clears only when its
// clear condition is seen again. Callers hold e.mu.
func (e *Engine) state(c *compiled, source string) *srcState {
	k := stateKey{c.ID, source}
	st := e.states[k]
	if st == nil {
		st = &srcState{}
		e.keep(k, st)
	}
	if st.c != c {
		st.c = c
		st.leaves = make([]leafState, len(c.leaves))
		for i := range st.leaves {
			st.leaves[i].on = st.latched
		}
	}
	return st
}

// Process implements stream.Stage. It never blocks on I/O and never rejects an event. It is safe to call
// from other goroutines too (e.mu guards the state): ioc hands it its own health readings directly.
func (e *Engine) Process(_ context.Context, ev *stream.Event) error {
	if ev.Type == stream.TypeAlarm {
		return nil
	}
	rs := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range rs.offline {
		if (len(c.Scope.Kinds) > 0 && !slices.Contains(c.Scope.Kinds, ev.Kind)) || !c.inScope(ev) {
			continue
		}
		st := e.state(c, ev.Entity)
		st.lastSeen = e.now()
		st.info = infoOf(ev)
		if st.latched {
			e.settle(c, st, ev.Entity, false, st.lastSeen, observation{"offline_seconds", 0})
		}
	}
	if e.cfg.MaxEventAge > 0 && e.now().Sub(ev.Time) > e.cfg.MaxEventAge {
		e.m.stale.Inc()
		return nil
	}
	if e.perSource[ev.Entity] == 0 && !e.noQuiet {
		// The usual case: a source no rule is watching. Only rules this event can start watching it
		// for are evaluated (with 1,000 threshold rules, a handful instead of all of them).
		scoped, general := rs.quiet(ev.Type, ev.Kind)
		cands := e.quietBuf[:0]
		if scoped != nil {
			cands = scoped.appendCandidates(cands, ev)
		}
		n := len(cands) // scoped rules first, then general ones, each in rule order
		if general != nil {
			cands = general.appendCandidates(cands, ev)
		}
		slices.SortFunc(cands[:n], byOrder)
		slices.SortFunc(cands[n:], byOrder)
		for _, c := range cands {
			e.eval(c, ev)
		}
		clear(cands)
		e.quietBuf = cands[:0]
		return nil
	}
	scoped, general := rs.candidates(ev.Type, ev.Kind)
	for _, c := range scoped {
		e.eval(c, ev)
	}
	for _, c := range general {
		e.eval(c, ev)
	}
	return nil
}

func byOrder(a, b *compiled) int { return a.order - b.order }

func infoOf(ev *stream.Event) sourceInfo {
	info := sourceInfo{kind: ev.Kind, areas: ev.Areas}
	if ev.HasLocation {
		p := ev.Location
		info.location = &p
	}
	return info
}

// eval runs one rule on one event. Callers hold e.mu.
func (e *Engine) eval(c *compiled, ev *stream.Event) {
	if !c.inScope(ev) {
		return
	}
	if c.count != nil {
		e.evalCount(c, ev)
		return
	}
	// Most readings of most sources leave most rules idle (below threshold, nothing pending): such
	// a (rule, source) is evaluated on scratch state and not stored, so memory grows with the sources
	// a rule is actually watching, not with rules × sources.
	k := stateKey{c.ID, ev.Entity}
	var st *srcState
	if e.perSource[ev.Entity] > 0 {
		st = e.states[k]
	}
	fresh := false
	if st == nil {
		fresh = true
		e.scratch = srcState{c: c, leaves: e.scratch.leaves[:0]}
		for range c.leaves {
			e.scratch.leaves = append(e.scratch.leaves, leafState{})
		}
		st = &e.scratch
	} else {
		st = e.state(c, ev.Entity)
	}
	var obs observation
	applied := false
	for i, l := range c.leaves {
		if o, ok := evalLeaf(l, &st.leaves[i], ev, e.meta); ok {
			if !applied {
				obs = o
			}
			applied = true
		}
	}
	if !applied {
		return
	}
	on := c.root.value(st.leaves)
	if fresh && !on && st.idle() {
		return // nothing to settle and nothing to keep: the common case, without building the info
	}
	st.info = infoOf(ev)
	e.settle(c, st, ev.Entity, on, ev.Time, obs)
	if fresh && !st.idle() {
		kept := *st
		kept.leaves = slices.Clone(st.leaves)
		e.keep(k, &kept)
	}
}

// keep stores the state of k. Callers hold e.mu.
func (e *Engine) keep(k stateKey, st *srcState) {
	if _, ok := e.states[k]; !ok {
		e.perSource[k.source]++
	}
	e.states[k] = st
}

// forget removes the state of k. Callers hold e.mu.
func (e *Engine) forget(k stateKey) {
	if _, ok := e.states[k]; !ok {
		return
	}
	delete(e.states, k)
	if e.perSource[k.source]--; e.perSource[k.source] <= 0 {
		delete(e.perSource, k.source)
	}
}

// idle reports whether a state holds nothing an empty state would not: no alarm, no cooldown, no
// pending duration, no samples.
func (st *srcState) idle() bool {
	if st.latched || !st.offSince.IsZero() || !st.lastSeen.IsZero() || len(st.counted) > 0 {
		return false
	}
	for _, l := range st.leaves {
		if l.on || !l.pending.IsZero() || l.sev != "" || len(l.samples) > 0 {
			return false
		}
	}
	return true
}

func (e *Engine) evalCount(c *compiled, ev *stream.Event) {
	ct := c.count
	code := ev.Areas[ct.AreaLevel]
	if code == "" {
		return
	}
	for k, v := range ct.Attrs {
		if ev.Attrs[k] != v {
			return
		}
	}
	source := ct.AreaLevel + ":" + code
	st := e.state(c, source)
	if _, seen := st.counted[ev.Entity]; seen {
		return // a later event of an entity already counted (a report changing status) is no new one
	}
	if st.counted == nil {
		st.counted = make(map[string]time.Time)
	}
	st.counted[ev.Entity] = ev.Time
	n := countSince(st, ev.Time.Add(-ct.Window.D()))
	info := infoOf(ev)
	info.kind = "area"
	info.areas = maps.Clone(ev.Areas)
	st.info = info
	e.settle(c, st, source, n >= ct.Min, ev.Time, observation{"count", float64(n)})
}

// countMemory is how long a count rule remembers an entity it counted, beyond the rule's window, so
// that events of the same report a day later (triaged, assigned, resolved) are not counted as new ones.
const countMemory = 24 * time.Hour

// countSince is the number of distinct entities first counted at or after cut; it forgets those
// counted more than countMemory before cut.
func countSince(st *srcState, cut time.Time) int {
	n := 0
	for id, at := range st.counted {
		switch {
		case !at.Before(cut):
			n++
		case at.Before(cut.Add(-countMemory)):
			delete(st.counted, id)
		}
	}
	return n
}

// severityOf is the rule's severity, raised by level leaves that are on.
func (c *compiled) severityOf(st *srcState) string {
	sev := c.Severity
	for i, l := range c.leaves {
		if l.level != nil && st.leaves[i].on && severityRank(st.leaves[i].sev) > severityRank(sev) {
			sev = st.leaves[i].sev
		}
	}
	return sev
}

// settle turns the rule's combined condition into transitions, applying the schedule (raising only)
// and the re-raise policy: after a clear, no new alarm until Cooldown has passed since the clear.
// Callers hold e.mu.
func (e *Engine) settle(c *compiled, st *srcState, source string, on bool, t time.Time, obs observation) {
	sev := c.severityOf(st)
	tr := transition{rule: c, source: source, at: t, severity: sev, obs: obs, info: st.info}
	if on {
		if st.latched {
			if severityRank(sev) > severityRank(st.sev) {
				tr.op = ActionUpgrade
				if e.enqueue(tr) {
					st.sev = sev
				}
			}
			return
		}
		if !c.sched.allows(t) {
			return
		}
		if !st.offSince.IsZero() && t.Sub(st.offSince) < c.cooldown {
			e.m.suppressed.Inc()
			return
		}
		tr.op = ActionRaise
		if e.enqueue(tr) {
			st.latched, st.sev = true, sev
		}
		return
	}
	if st.latched {
		tr.op = ActionClear
		if e.enqueue(tr) {
			st.latched, st.offSince = false, t
		}
	}
}

func (e *Engine) enqueue(tr transition) bool {
	select {
	case e.in <- tr:
		e.m.transitions.WithLabelValues(tr.op).Inc()
		return true
	default:
		e.m.dropped.WithLabelValues("transitions").Inc()
		return false
	}
}

// Run performs queued transitions, ticks every tick_interval, sends notifications and emits alarm
// change events until ctx ends. emit may block (pipeline backpressure); transitions queue meanwhile.
func (e *Engine) Run(ctx context.Context, emit stream.Emit) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { e.notifier.Run(ctx) })
	ticker := time.NewTicker(e.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case tr := <-e.in:
			if tr.op != "flush" {
				e.handle(ctx, tr)
				continue
			}
			for len(e.out) > 0 {
				e.emit(ctx, emit, <-e.out)
			}
			close(tr.flushed)
		case ev := <-e.out:
			e.emit(ctx, emit, ev)
		case <-ticker.C:
			e.Tick(ctx)
		}
	}
}

func (e *Engine) emit(ctx context.Context, emit stream.Emit, ev stream.Event) {
	if err := emit(ctx, stream.Batch{Events: []stream.Event{ev}}); err != nil && ctx.Err() == nil {
		e.m.dropped.WithLabelValues("emit").Inc()
	}
}

// handle performs one transition against the store.
func (e *Engine) handle(ctx context.Context, tr transition) {
	c := tr.rule
	switch tr.op {
	case ActionRaise:
		a := Alarm{Rule: c.ID, Name: c.Name, Source: tr.source, SourceKind: tr.info.kind, Severity: tr.severity,
			Field: tr.obs.field, Value: tr.obs.value, Location: tr.info.location, Areas: tr.info.areas, RaisedAt: tr.at}
		if c.escalate > 0 {
			at := tr.at.Add(c.escalate)
			a.EscalateAt = &at
		}
		got, created, err := e.store.Open(ctx, a)
		if err != nil {
			e.storeFailed("open", err)
			e.relatch(tr, false) // let the next matching event try again
			return
		}
		if created {
			e.publish(got, ActionRaise)
		}
	case ActionClear:
		got, ok, err := e.store.ClearOpen(ctx, c.ID, tr.source, tr.at, "điều kiện đã hết / condition cleared")
		if err != nil {
			e.storeFailed("clear", err)
			e.relatch(tr, true)
			return
		}
		if ok {
			e.publish(got, ActionClear)
		}
	case ActionUpgrade:
		open, err := e.store.List(ctx, Filter{State: "open", Rule: c.ID, Source: tr.source, Limit: 1})
		if err != nil {
			e.storeFailed("upgrade", err)
			return
		}
		if len(open) == 0 || severityRank(open[0].Severity) >= severityRank(tr.severity) {
			return
		}
		v := tr.obs.value
		got, ok, err := e.store.SetSeverity(ctx, open[0].ID, open[0].Severity, Action{At: tr.at, Actor: SystemActor,
			Kind: ActionUpgrade, Severity: tr.severity, Value: &v, Note: fmt.Sprintf("%s = %g", tr.obs.field, tr.obs.value)})
		if err != nil {
			e.storeFailed("upgrade", err)
			return
		}
		if ok {
			e.publish(got, ActionUpgrade)
		}
	}
}

// relatch undoes a transition's effect on rule state after the store refused it.
func (e *Engine) relatch(tr transition, latched bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.states[stateKey{tr.rule.ID, tr.source}]; st != nil {
		st.latched = latched
		if latched {
			st.offSince = time.Time{}
		}
	}
}

func (e *Engine) storeFailed(op string, err error) {
	e.m.storeErrors.WithLabelValues(op).Inc()
	e.log.Error("alarm store failed", "op", op, "error", err)
}

// Tick checks offline rules and count windows at the engine clock's now, and escalates alarms left
// unacknowledged past their escalation time. Run calls it every tick_interval; tests call it directly.
func (e *Engine) Tick(ctx context.Context) {
	now := e.now()
	e.tickRules(now)
	due, err := e.store.DueEscalations(ctx, now)
	if err != nil {
		e.storeFailed("escalate", err)
		return
	}
	for _, a := range due {
		to := bumpSeverity(a.Severity)
		got, ok, err := e.store.SetSeverity(ctx, a.ID, a.Severity, Action{At: now, Actor: SystemActor, Kind: ActionEscalate,
			Severity: to, Note: fmt.Sprintf("chưa được xác nhận sau %s / unacknowledged for %s", now.Sub(a.RaisedAt).Round(time.Second), now.Sub(a.RaisedAt).Round(time.Second))})
		if err != nil {
			e.storeFailed("escalate", err)
			continue
		}
		if ok { // another node may have escalated it first
			e.publish(got, ActionEscalate)
		}
	}
}

func (e *Engine) tickRules(now time.Time) {
	rs := e.rules.Load()
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, st := range e.states {
		c := rs.byID[k.rule]
		if c == nil {
			continue
		}
		switch {
		case c.offline != nil:
			st = e.state(c, k.source)
			if st.lastSeen.IsZero() { // restarted with the alarm open: the clock starts now
				st.lastSeen = now
			}
			silent := now.Sub(st.lastSeen)
			e.settle(c, st, k.source, silent >= c.offline.After.D(), now, observation{"offline_seconds", silent.Seconds()})
		case c.count != nil:
			n := countSince(st, now.Add(-c.count.Window.D()))
			if st.latched && n < c.count.Min {
				e.settle(c, st, k.source, false, now, observation{"count", float64(n)})
			}
			if !st.latched && len(st.counted) == 0 && now.Sub(st.offSince) >= c.cooldown {
				e.forget(k)
			}
		}
	}
}

// publish queues the change event of a and its notification.
func (e *Engine) publish(a Alarm, action string) {
	select {
	case e.out <- ChangeEvent(a, action, e.now()):
	default:
		e.m.dropped.WithLabelValues("changes").Inc()
	}
	e.notifier.enqueue(a, action)
}

// ChangeEvent is the stream event announcing an alarm change: Type alarm, Kind alarm, Entity the
// alarm ID, the source's location and areas, Attrs rule, source, severity, state, assignee, action,
// and Values the triggering value under its field name.
func ChangeEvent(a Alarm, action string, at time.Time) stream.Event {
	ev := stream.Event{Entity: a.ID, Kind: "alarm", Type: stream.TypeAlarm, Source: "alarm", Time: at,
		Areas: maps.Clone(a.Areas),
		Attrs: map[string]string{"rule": a.Rule, "name": a.Name, "source": a.Source, "severity": a.Severity,
			"state": a.State, "assignee": a.Assignee, "action": action, "notify_status": a.NotifyStatus},
		Values: map[string]float64{},
	}
	if a.Field != "" {
		ev.Values[a.Field] = a.Value
	}
	if a.Location != nil {
		ev.Location, ev.HasLocation = *a.Location, true
	}
	return ev
}

// Ack acknowledges an alarm as actor.
func (e *Engine) Ack(ctx context.Context, id, actor, note string) (Alarm, error) {
	return e.act(ctx, id, Action{Kind: ActionAck, Actor: actor, Note: note})
}

// Clear clears an alarm as actor. The rule raises no new alarm for the source until its condition has
// cleared and the cooldown passed.
func (e *Engine) Clear(ctx context.Context, id, actor, note string) (Alarm, error) {
	return e.act(ctx, id, Action{Kind: ActionClear, Actor: actor, Note: note})
}

// Assign assigns an active alarm to assignee.
func (e *Engine) Assign(ctx context.Context, id, actor, assignee, note string) (Alarm, error) {
	return e.act(ctx, id, Action{Kind: ActionAssign, Actor: actor, Assignee: assignee, Note: note})
}

// Comment adds a note to an alarm in any state.
func (e *Engine) Comment(ctx context.Context, id, actor, text string) (Alarm, error) {
	return e.act(ctx, id, Action{Kind: ActionComment, Actor: actor, Note: text})
}

func (e *Engine) act(ctx context.Context, id string, act Action) (Alarm, error) {
	if act.Actor == "" {
		return Alarm{}, errors.New("alarm action: actor is required")
	}
	act.At = e.now()
	a, err := e.store.Act(ctx, id, act)
	if err != nil {
		return Alarm{}, err
	}
	e.publish(a, act.Kind)
	return a, nil
}

// Get returns an alarm with its history.
func (e *Engine) Get(ctx context.Context, id string) (Alarm, []Action, error) {
	a, err := e.store.Get(ctx, id)
	if err != nil {
		return Alarm{}, nil, err
	}
	h, err := e.store.History(ctx, id)
	return a, h, err
}

// List lists alarms.
func (e *Engine) List(ctx context.Context, f Filter) ([]Alarm, error) { return e.store.List(ctx, f) }
