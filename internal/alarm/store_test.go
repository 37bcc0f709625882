package alarm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/internal/pgtest"
)

// storeKind opens a fresh store and can reopen the same database (a restart).
type storeKind struct {
	name string
	// fresh returns the DSN/path of a new empty database and an opener for it.
	fresh func(t *testing.T) func(t *testing.T) Store
}

var storeKinds = []storeKind{
	{"sqlite", func(t *testing.T) func(t *testing.T) Store {
		path := filepath.Join(t.TempDir(), "alarms.db")
		return func(t *testing.T) Store {
			s, err := OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"postgres", func(t *testing.T) func(t *testing.T) Store {
		dsn := pgtest.Schema(t, "alarm_test")
		return func(t *testing.T) Store {
			s, err := OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

func forEachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) Store)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.fresh(t)) })
	}
}

var t0 = time.Date(2026, 3, 10, 8, 0, 0, 0, Vietnam)

func sampleAlarm(source, rule string) Alarm {
	return Alarm{Rule: rule, Name: "Mặn vượt ngưỡng / salinity high", Source: source, SourceKind: "salinity",
		Severity: SeverityMajor, Field: "salinity", Value: 4.6, Location: &orb.Point{106.37, 10.24},
		Areas: map[string]string{"province": "83", "district": "829"}, RaisedAt: t0}
}

func TestStoreContract(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		ctx := context.Background()
		s := open(t)

		a, created, err := s.Open(ctx, sampleAlarm("sal-1", "salinity-high"))
		if err != nil || !created {
			t.Fatalf("first open: created=%v err=%v", created, err)
		}
		if a.State != StateActiveUnack || a.Location == nil || a.Areas["district"] != "829" || !a.RaisedAt.Equal(t0) {
			t.Fatalf("opened alarm not stored faithfully: %+v", a)
		}
		again, created, err := s.Open(ctx, sampleAlarm("sal-1", "salinity-high"))
		if err != nil || created || again.ID != a.ID {
			t.Fatalf("second open must return the open alarm: created=%v id=%s want %s err=%v", created, again.ID, a.ID, err)
		}
		other, created, err := s.Open(ctx, sampleAlarm("sal-2", "salinity-high"))
		if err != nil || !created || other.ID == a.ID {
			t.Fatalf("another source must get its own alarm: created=%v err=%v", created, err)
		}

		steps := []struct {
			act       Action
			wantState string
			wantErr   error
		}{
			{Action{Kind: ActionAssign, Actor: "lan", Assignee: "tuan", At: t0.Add(time.Minute)}, StateActiveUnack, nil},
			{Action{Kind: ActionAck, Actor: "lan", Note: "đang xử lý", At: t0.Add(2 * time.Minute)}, StateActiveAck, nil},
			{Action{Kind: ActionAck, Actor: "lan", At: t0.Add(3 * time.Minute)}, "", ErrConflict},
			{Action{Kind: ActionComment, Actor: "tuan", Note: "đã đóng cống", At: t0.Add(4 * time.Minute)}, StateActiveAck, nil},
			{Action{Kind: ActionClear, Actor: "tuan", At: t0.Add(5 * time.Minute)}, StateClearedAck, nil},
			{Action{Kind: ActionClear, Actor: "tuan", At: t0.Add(6 * time.Minute)}, "", ErrConflict},
			{Action{Kind: ActionAssign, Actor: "lan", Assignee: "x", At: t0.Add(6 * time.Minute)}, "", ErrConflict},
			{Action{Kind: ActionComment, Actor: "lan", Note: "post-mortem", At: t0.Add(7 * time.Minute)}, StateClearedAck, nil},
		}
		for i, st := range steps {
			got, err := s.Act(ctx, a.ID, st.act)
			if st.wantErr != nil {
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d %s: err = %v, want %v", i, st.act.Kind, err, st.wantErr)
				}
				continue
			}
			if err != nil || got.State != st.wantState {
				t.Fatalf("step %d %s: state %q err %v, want %q", i, st.act.Kind, got.State, err, st.wantState)
			}
		}
		got, err := s.Get(ctx, a.ID)
		if err != nil || got.Assignee != "tuan" || got.AckedAt == nil || !got.AckedAt.Equal(t0.Add(2*time.Minute)) || got.ClearedAt == nil {
			t.Fatalf("after lifecycle: %+v err %v", got, err)
		}
		hist, err := s.History(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, h := range hist {
			kinds = append(kinds, h.Actor+":"+h.Kind+":"+h.State)
		}
		want := fmt.Sprint([]string{"system:raise:active_unack", "lan:assign:active_unack", "lan:ack:active_ack",
			"tuan:comment:active_ack", "tuan:clear:cleared_ack", "lan:comment:cleared_ack"})
		if fmt.Sprint(kinds) != want {
			t.Fatalf("history = %v\nwant      %v", kinds, want)
		}

		// Cleared: the same (source, rule) may open a new alarm.
		reopened, created, err := s.Open(ctx, sampleAlarm("sal-1", "salinity-high"))
		if err != nil || !created || reopened.ID == a.ID {
			t.Fatalf("open after clear: created=%v err=%v", created, err)
		}

		if _, err := s.Act(ctx, "alm_missing", Action{Kind: ActionAck, Actor: "lan", At: t0}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ack unknown alarm: %v, want ErrNotFound", err)
		}

		// System clear of the open alarm, then a second one finds nothing.
		c, ok, err := s.ClearOpen(ctx, "salinity-high", "sal-2", t0.Add(time.Hour), "condition cleared")
		if err != nil || !ok || c.State != StateClearedUnack {
			t.Fatalf("clear open: %+v ok=%v err=%v", c, ok, err)
		}
		if _, ok, err := s.ClearOpen(ctx, "salinity-high", "sal-2", t0.Add(time.Hour), ""); err != nil || ok {
			t.Fatalf("second clear open: ok=%v err=%v", ok, err)
		}

		filters := []struct {
			name string
			f    Filter
			want int
		}{
			{"all", Filter{}, 3},
			{"open", Filter{State: "open"}, 1},
			{"attention: open and cleared_unack", Filter{State: FilterAttention}, 2},
			{"cleared_ack", Filter{State: StateClearedAck}, 1},
			{"area district", Filter{Areas: []string{"829"}}, 3},
			{"area other", Filter{Areas: []string{"82"}}, 0},
			{"severity", Filter{Severity: SeverityMajor, Source: "sal-2"}, 1},
			{"time window", Filter{From: t0, To: t0.Add(time.Second)}, 3},
			{"before", Filter{To: t0}, 0},
		}
		for _, f := range filters {
			list, err := s.List(ctx, f.f)
			if err != nil || len(list) != f.want {
				t.Errorf("list %s: %d alarms err %v, want %d", f.name, len(list), err, f.want)
			}
		}
	})
}

// TestStoreListAreas: a filter with several areas lists the alarms in any of them (codes at any
// level), each once, and none elsewhere; the limit counts only those.
func TestStoreListAreas(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		s, ctx := open(t), context.Background()
		for i, district := range []string{"829", "831", "836", "829"} {
			a := sampleAlarm(fmt.Sprintf("sal-%d", i), "salinity-high")
			a.Areas = map[string]string{"province": "83", "district": district}
			a.RaisedAt = t0.Add(time.Duration(i) * time.Minute)
			if _, _, err := s.Open(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name  string
			f     Filter
			wants []string // sources, newest first
		}{
			{"one district", Filter{Areas: []string{"831"}}, []string{"sal-1"}},
			{"two districts", Filter{Areas: []string{"829", "836"}}, []string{"sal-3", "sal-2", "sal-0"}},
			{"district and its province", Filter{Areas: []string{"829", "83"}}, []string{"sal-3", "sal-2", "sal-1", "sal-0"}},
			{"unknown codes", Filter{Areas: []string{"82", "830"}}, nil},
			{"two districts, open, limit", Filter{Areas: []string{"831", "836"}, State: "open", Limit: 1}, []string{"sal-2"}},
			{"a code is not a prefix", Filter{Areas: []string{"8", "3"}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				list, err := s.List(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range list {
					got = append(got, a.Source)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wants) {
					t.Errorf("sources %v, want %v", got, tc.wants)
				}
			})
		}
	})
}

func TestStoreEscalation(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		ctx := context.Background()
		s := open(t)
		due := t0.Add(15 * time.Minute)
		in := sampleAlarm("lvl-1", "river")
		in.EscalateAt = &due
		a, _, err := s.Open(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if list, _ := s.DueEscalations(ctx, due.Add(-time.Millisecond)); len(list) != 0 {
			t.Fatalf("escalation due too early: %d", len(list))
		}
		list, err := s.DueEscalations(ctx, due)
		if err != nil || len(list) != 1 || list[0].ID != a.ID {
			t.Fatalf("due at the escalation time: %v %v", list, err)
		}
		act := Action{Kind: ActionEscalate, Actor: SystemActor, Severity: SeverityCritical, At: due}
		got, ok, err := s.SetSeverity(ctx, a.ID, SeverityMajor, act)
		if err != nil || !ok || got.Severity != SeverityCritical || got.Escalations != 1 || got.EscalateAt != nil {
			t.Fatalf("escalate: %+v ok=%v err=%v", got, ok, err)
		}
		if _, ok, _ := s.SetSeverity(ctx, a.ID, SeverityMajor, act); ok {
			t.Fatal("a second escalation from the old severity must not apply")
		}
		// An upgrade (a higher water alert level) records the reading that caused it.
		worse := 3.4
		if got, ok, err := s.SetSeverity(ctx, a.ID, SeverityCritical, Action{Kind: ActionUpgrade, Actor: SystemActor, Severity: SeverityCritical, Value: &worse, At: due.Add(time.Minute)}); err != nil || !ok || got.Value != worse {
			t.Fatalf("upgrade: value %v ok=%v err=%v, want %v", got.Value, ok, err, worse)
		}
		if stored, err := s.Get(ctx, a.ID); err != nil || stored.Value != worse {
			t.Fatalf("upgraded alarm read back with value %v (%v), want %v", stored.Value, err, worse)
		}
		if list, _ := s.DueEscalations(ctx, due.Add(time.Hour)); len(list) != 0 {
			t.Fatalf("escalated alarm still due: %d", len(list))
		}
	})
}

// TestStoreOneOpenConcurrently opens the same (source, rule) from many goroutines, each with its own
// connection pool for PostgreSQL (as separate processes would): exactly one alarm is created.
func TestStoreOneOpenConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		ctx := context.Background()
		stores := []Store{open(t), open(t), open(t)}
		const n = 48
		var wg sync.WaitGroup
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				a, c, err := stores[i%len(stores)].Open(ctx, sampleAlarm("cam-7", "person-night"))
				ids[i], created[i], errs[i] = a.ID, c, err
			})
		}
		close(start)
		wg.Wait()
		nCreated := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("open %d: %v", i, errs[i])
			}
			if created[i] {
				nCreated++
			}
			if ids[i] != ids[0] {
				t.Fatalf("goroutine %d got alarm %s, goroutine 0 got %s", i, ids[i], ids[0])
			}
		}
		list, err := stores[0].List(ctx, Filter{Source: "cam-7"})
		if err != nil || nCreated != 1 || len(list) != 1 {
			t.Fatalf("created %d alarms (%d stored, err %v), want exactly 1", nCreated, len(list), err)
		}
	})
}

func TestStoreRulesAndRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(t *testing.T) Store) {
		ctx := context.Background()
		s := open(t)
		r := Rule{ID: "pm25", Name: "Bụi mịn / PM2.5", Severity: SeverityMinor,
			When: Condition{Threshold: &Threshold{Field: "pm25", Op: ">", Value: 55, For: Duration(15 * time.Minute)}}}
		if err := s.PutRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		r.Severity = SeverityMajor
		if err := s.PutRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		a, _, err := s.Open(ctx, sampleAlarm("aq-1", "pm25"))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()

		s2 := open(t) // reopen: migrations are idempotent, data survives
		rules, err := s2.Rules(ctx)
		if err != nil || len(rules) != 1 || rules[0].Severity != SeverityMajor || rules[0].When.Threshold.For.D() != 15*time.Minute {
			t.Fatalf("rules after reopen: %+v err %v", rules, err)
		}
		got, err := s2.Get(ctx, a.ID)
		if err != nil || got.State != StateActiveUnack {
			t.Fatalf("alarm after reopen: %+v err %v", got, err)
		}
		if err := s2.DeleteRule(ctx, "pm25"); err != nil {
			t.Fatal(err)
		}
		if err := s2.DeleteRule(ctx, "pm25"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v, want ErrNotFound", err)
		}
	})
}
