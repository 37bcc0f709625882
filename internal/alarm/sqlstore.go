package alarm

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/paulmach/orb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ioc-vn/ioc/internal/sqldb"
)

// dialect holds what differs between SQLite and PostgreSQL; the queries are shared.
type dialect struct {
	name       string
	dollar     bool     // placeholders are $1, $2 … instead of ?
	migrations []string // versioned schema, version i+1 at index i
}

// Versioned migrations. Times are Unix milliseconds. active is 1 while the alarm is open; the unique
// partial index on (source, rule) where active = 1 is what makes "one open alarm per (source, rule)"
// atomic across goroutines and processes.
var sqliteDialect = dialect{
	name: "sqlite",
	migrations: []string{`
CREATE TABLE alarms (
	id TEXT PRIMARY KEY,
	rule TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL,
	source_kind TEXT NOT NULL DEFAULT '',
	severity TEXT NOT NULL,
	state TEXT NOT NULL,
	active INTEGER NOT NULL,
	assignee TEXT NOT NULL DEFAULT '',
	field TEXT NOT NULL DEFAULT '',
	value DOUBLE PRECISION NOT NULL DEFAULT 0,
	lon DOUBLE PRECISION, lat DOUBLE PRECISION,
	areas TEXT NOT NULL DEFAULT '{}',
	area_codes TEXT NOT NULL DEFAULT ',',
	raised_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	acked_at BIGINT, cleared_at BIGINT, escalate_at BIGINT,
	escalations INTEGER NOT NULL DEFAULT 0,
	notify_status TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX alarms_one_open ON alarms (source, rule) WHERE active = 1;
CREATE INDEX alarms_raised ON alarms (raised_at);
CREATE INDEX alarms_escalate ON alarms (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE TABLE alarm_history (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	alarm_id TEXT NOT NULL REFERENCES alarms(id),
	at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '', assignee TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL
);
CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, seq);
CREATE TABLE alarm_rules (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL);`},
}

var postgresDialect = dialect{
	name:   "postgres",
	dollar: true,
	migrations: []string{`
CREATE TABLE alarms (
	id TEXT PRIMARY KEY,
	rule TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL,
	source_kind TEXT NOT NULL DEFAULT '',
	severity TEXT NOT NULL,
	state TEXT NOT NULL,
	active INTEGER NOT NULL,
	assignee TEXT NOT NULL DEFAULT '',
	field TEXT NOT NULL DEFAULT '',
	value DOUBLE PRECISION NOT NULL DEFAULT 0,
	lon DOUBLE PRECISION, lat DOUBLE PRECISION,
	areas TEXT NOT NULL DEFAULT '{}',
	area_codes TEXT NOT NULL DEFAULT ',',
	raised_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	acked_at BIGINT, cleared_at BIGINT, escalate_at BIGINT,
	escalations INTEGER NOT NULL DEFAULT 0,
	notify_status TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX alarms_one_open ON alarms (source, rule) WHERE active = 1;
CREATE INDEX alarms_raised ON alarms (raised_at);
CREATE INDEX alarms_escalate ON alarms (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE TABLE alarm_history (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	alarm_id TEXT NOT NULL REFERENCES alarms(id),
	at BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '', assignee TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL
);
CREATE INDEX alarm_history_alarm ON alarm_history (alarm_id, seq);
CREATE TABLE alarm_rules (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL);`},
}

// SQLStore is the Store on SQLite or PostgreSQL.
type SQLStore struct {
	db *sql.DB
	d  dialect
}

var _ Store = (*SQLStore)(nil)

// OpenSQLite opens (creating if needed) the SQLite database at path and migrates it. Several processes
// may share the file: writes wait up to 5 s for the lock.
func OpenSQLite(ctx context.Context, path string) (*SQLStore, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return newSQLStore(ctx, db, sqliteDialect)
}

// OpenPostgres connects to PostgreSQL (a pgx connection string; add search_path=… to use a schema)
// and migrates the database.
func OpenPostgres(ctx context.Context, dsn string) (*SQLStore, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	return newSQLStore(ctx, stdlib.OpenDB(*cfg), postgresDialect)
}

func newSQLStore(ctx context.Context, db *sql.DB, d dialect) (*SQLStore, error) {
	s := &SQLStore{db: db, d: d}
	if err := sqldb.Migrate(ctx, db, d.name == "postgres", s.migrate); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *SQLStore) Close() error { return s.db.Close() }

// Check reports whether the database answers (for /readyz).
func (s *SQLStore) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// q rewrites ? placeholders for the dialect.
func (s *SQLStore) q(query string) string { return sqldb.Rebind(s.d.dollar, query) }

func (s *SQLStore) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS alarm_schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("%s: create migrations table: %w", s.d.name, err)
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM alarm_schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > len(s.d.migrations) {
			return fmt.Errorf("%s: database schema version %d is newer than this ioc (%d)", s.d.name, have, len(s.d.migrations))
		}
		for v := have + 1; v <= len(s.d.migrations); v++ {
			if _, err := tx.ExecContext(ctx, s.d.migrations[v-1]); err != nil {
				return fmt.Errorf("%s: migration %d: %w", s.d.name, v, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO alarm_schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("%s: record migration %d: %w", s.d.name, v, err)
			}
		}
		return nil
	})
}

func (s *SQLStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// newID returns a random alarm ID.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "alm_" + hex.EncodeToString(b[:])
}

const alarmColumns = `id, rule, name, source, source_kind, severity, state, assignee, field, value, lon, lat, areas,
	raised_at, updated_at, acked_at, cleared_at, escalate_at, escalations, notify_status, version`

// Open implements Store.
func (s *SQLStore) Open(ctx context.Context, a Alarm) (Alarm, bool, error) {
	if a.ID == "" {
		a.ID = newID()
	}
	a.State, a.Version, a.Escalations = StateActiveUnack, 1, 0
	a.RaisedAt = a.RaisedAt.Truncate(time.Millisecond)
	a.UpdatedAt = a.RaisedAt
	areas, err := json.Marshal(a.Areas)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("encode areas: %w", err)
	}
	var lon, lat sql.NullFloat64
	if a.Location != nil {
		lon, lat = sql.NullFloat64{Float64: a.Location[0], Valid: true}, sql.NullFloat64{Float64: a.Location[1], Valid: true}
	}
	for range 5 {
		created := false
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO alarms (id, rule, name, source, source_kind, severity, state, active,
	field, value, lon, lat, areas, area_codes, raised_at, updated_at, escalate_at)
VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source, rule) WHERE active = 1 DO NOTHING`),
				a.ID, a.Rule, a.Name, a.Source, a.SourceKind, a.Severity, a.State, a.Field, a.Value, lon, lat,
				string(areas), areaCodes(a.Areas), a.RaisedAt.UnixMilli(), a.UpdatedAt.UnixMilli(), nullMillis(a.EscalateAt))
			if err != nil {
				return fmt.Errorf("insert alarm: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert alarm: %w", err)
			}
			if n == 0 {
				return nil
			}
			created = true
			return s.addHistory(ctx, tx, a.ID, Action{At: a.RaisedAt, Actor: SystemActor, Kind: ActionRaise, Severity: a.Severity, State: a.State})
		})
		if err != nil {
			return Alarm{}, false, fmt.Errorf("open alarm: %w", err)
		}
		if created {
			got, err := s.Get(ctx, a.ID)
			return got, true, err
		}
		open, err := s.List(ctx, Filter{State: "open", Rule: a.Rule, Source: a.Source, Limit: 1})
		if err != nil {
			return Alarm{}, false, fmt.Errorf("open alarm: %w", err)
		}
		if len(open) == 1 {
			return open[0], false, nil
		}
		// The open alarm was cleared between our insert and our read: try again.
	}
	return Alarm{}, false, fmt.Errorf("open alarm %s/%s: lost the race five times", a.Source, a.Rule)
}

func areaCodes(areas map[string]string) string {
	codes := make([]string, 0, len(areas))
	for _, c := range areas {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return "," + strings.Join(codes, ",") + ","
}

func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func (s *SQLStore) addHistory(ctx context.Context, tx *sql.Tx, id string, act Action) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO alarm_history (alarm_id, at, actor, action, note, assignee, severity, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		id, act.At.UnixMilli(), act.Actor, act.Kind, act.Note, act.Assignee, act.Severity, act.State)
	if err != nil {
		return fmt.Errorf("insert history: %w", err)
	}
	return nil
}

// change applies fn to the current alarm and writes the result if nobody changed the alarm meanwhile
// (optimistic on version), retrying on a concurrent change. fn returns false to leave the alarm as is.
func (s *SQLStore) change(ctx context.Context, id string, fn func(a *Alarm) (Action, bool, error)) (Alarm, bool, error) {
	for range 20 {
		a, err := s.Get(ctx, id)
		if err != nil {
			return Alarm{}, false, err
		}
		act, ok, err := fn(&a)
		if err != nil || !ok {
			return a, false, err
		}
		wrote := false
		err = s.tx(ctx, func(tx *sql.Tx) error {
			active := 0
			if isActive(a.State) {
				active = 1
			}
			res, err := tx.ExecContext(ctx, s.q(`UPDATE alarms SET severity = ?, state = ?, active = ?, assignee = ?, value = ?, updated_at = ?,
	acked_at = ?, cleared_at = ?, escalate_at = ?, escalations = ?, version = version + 1
WHERE id = ? AND version = ?`),
				a.Severity, a.State, active, a.Assignee, a.Value, act.At.UnixMilli(), nullMillis(a.AckedAt), nullMillis(a.ClearedAt),
				nullMillis(a.EscalateAt), a.Escalations, a.ID, a.Version)
			if err != nil {
				return fmt.Errorf("update alarm: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil || n == 0 {
				return err
			}
			wrote = true
			return s.addHistory(ctx, tx, a.ID, act)
		})
		if err != nil {
			return Alarm{}, false, fmt.Errorf("alarm %s: %w", id, err)
		}
		if wrote {
			got, err := s.Get(ctx, id)
			return got, true, err
		}
	}
	return Alarm{}, false, fmt.Errorf("alarm %s: too many concurrent changes", id)
}

// apply moves a to the state act leads to, filling the action's resulting state.
func apply(a *Alarm, act *Action) error {
	st, err := next(a.State, act.Kind)
	if err != nil {
		return err
	}
	at := act.At.Truncate(time.Millisecond)
	act.At = at
	switch act.Kind {
	case ActionAck:
		a.AckedAt = &at
		a.EscalateAt = nil
	case ActionClear:
		a.ClearedAt = &at
		a.EscalateAt = nil
	case ActionAssign:
		a.Assignee = act.Assignee
	}
	a.State = st
	act.State = st
	return nil
}

// ClearOpen implements Store.
func (s *SQLStore) ClearOpen(ctx context.Context, rule, source string, at time.Time, note string) (Alarm, bool, error) {
	open, err := s.List(ctx, Filter{State: "open", Rule: rule, Source: source, Limit: 1})
	if err != nil || len(open) == 0 {
		return Alarm{}, false, err
	}
	a, ok, err := s.change(ctx, open[0].ID, func(a *Alarm) (Action, bool, error) {
		act := Action{At: at, Actor: SystemActor, Kind: ActionClear, Note: note}
		if !isActive(a.State) {
			return act, false, nil // an operator cleared it first
		}
		return act, true, apply(a, &act)
	})
	return a, ok, err
}

// Act implements Store.
func (s *SQLStore) Act(ctx context.Context, id string, act Action) (Alarm, error) {
	switch act.Kind {
	case ActionAck, ActionClear, ActionAssign, ActionComment:
	default:
		return Alarm{}, fmt.Errorf("unknown operator action %q", act.Kind)
	}
	a, _, err := s.change(ctx, id, func(a *Alarm) (Action, bool, error) {
		act := act
		return act, true, apply(a, &act)
	})
	return a, err
}

// SetSeverity implements Store.
func (s *SQLStore) SetSeverity(ctx context.Context, id, fromSeverity string, act Action) (Alarm, bool, error) {
	return s.change(ctx, id, func(a *Alarm) (Action, bool, error) {
		act := act
		if a.Severity != fromSeverity || !isActive(a.State) {
			return act, false, nil
		}
		if act.Kind == ActionEscalate {
			if a.State != StateActiveUnack || a.EscalateAt == nil {
				return act, false, nil
			}
			a.EscalateAt = nil
			a.Escalations++
		}
		a.Severity = act.Severity
		if act.Value != nil { // an upgrade carries the reading that made it worse
			a.Value = *act.Value
		}
		return act, true, apply(a, &act)
	})
}

// SetNotifyStatus implements Store.
func (s *SQLStore) SetNotifyStatus(ctx context.Context, id, status string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE alarms SET notify_status = ? WHERE id = ?`), status, id); err != nil {
		return fmt.Errorf("alarm %s: set notify status: %w", id, err)
	}
	return nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (Alarm, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+alarmColumns+` FROM alarms WHERE id = ?`), id)
	if err != nil {
		return Alarm{}, fmt.Errorf("get alarm %s: %w", id, err)
	}
	list, err := scanAlarms(rows)
	if err != nil {
		return Alarm{}, fmt.Errorf("get alarm %s: %w", id, err)
	}
	if len(list) == 0 {
		return Alarm{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return list[0], nil
}

// History implements Store.
func (s *SQLStore) History(ctx context.Context, id string) ([]Action, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, actor, action, note, assignee, severity, state FROM alarm_history WHERE alarm_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	defer rows.Close()
	var out []Action
	for rows.Next() {
		var a Action
		var at int64
		if err := rows.Scan(&at, &a.Actor, &a.Kind, &a.Note, &a.Assignee, &a.Severity, &a.State); err != nil {
			return nil, fmt.Errorf("alarm %s history: %w", id, err)
		}
		a.At = fromMillis(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	return out, nil
}

// List implements Store. Alarms come newest first.
func (s *SQLStore) List(ctx context.Context, f Filter) ([]Alarm, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	switch f.State {
	case "":
	case FilterOpen:
		where = append(where, "active = 1")
	case FilterAttention:
		add("state <> ?", StateClearedAck)
	default:
		add("state = ?", f.State)
	}
	if f.Severity != "" {
		add("severity = ?", f.Severity)
	}
	if len(f.Areas) > 0 {
		in := make([]string, len(f.Areas))
		for i, code := range f.Areas {
			in[i] = "area_codes LIKE ?"
			args = append(args, "%,"+code+",%")
		}
		where = append(where, "("+strings.Join(in, " OR ")+")")
	}
	if f.Rule != "" {
		add("rule = ?", f.Rule)
	}
	if f.Source != "" {
		add("source = ?", f.Source)
	}
	if !f.From.IsZero() {
		add("raised_at >= ?", f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add("raised_at < ?", f.To.UnixMilli())
	}
	query := `SELECT ` + alarmColumns + ` FROM alarms`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	query += fmt.Sprintf(" ORDER BY raised_at DESC, id LIMIT %d", limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	list, err := scanAlarms(rows)
	if err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	return list, nil
}

// DueEscalations implements Store.
func (s *SQLStore) DueEscalations(ctx context.Context, now time.Time) ([]Alarm, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+alarmColumns+` FROM alarms WHERE escalate_at IS NOT NULL AND escalate_at <= ? AND state = ? ORDER BY escalate_at LIMIT 1000`),
		now.UnixMilli(), StateActiveUnack)
	if err != nil {
		return nil, fmt.Errorf("due escalations: %w", err)
	}
	list, err := scanAlarms(rows)
	if err != nil {
		return nil, fmt.Errorf("due escalations: %w", err)
	}
	return list, nil
}

func scanAlarms(rows *sql.Rows) ([]Alarm, error) {
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var a Alarm
		var lon, lat sql.NullFloat64
		var areas string
		var raised, updated int64
		var acked, cleared, escalate sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Rule, &a.Name, &a.Source, &a.SourceKind, &a.Severity, &a.State, &a.Assignee,
			&a.Field, &a.Value, &lon, &lat, &areas, &raised, &updated, &acked, &cleared, &escalate,
			&a.Escalations, &a.NotifyStatus, &a.Version); err != nil {
			return nil, err
		}
		if lon.Valid && lat.Valid {
			a.Location = &orb.Point{lon.Float64, lat.Float64}
		}
		if err := json.Unmarshal([]byte(areas), &a.Areas); err != nil {
			return nil, fmt.Errorf("alarm %s: decode areas: %w", a.ID, err)
		}
		a.RaisedAt, a.UpdatedAt = fromMillis(raised), fromMillis(updated)
		a.AckedAt, a.ClearedAt, a.EscalateAt = fromNullMillis(acked), fromNullMillis(cleared), fromNullMillis(escalate)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Vietnam is Asia/Ho_Chi_Minh (UTC+7 all year), fixed so ioc needs no tz database.
var Vietnam = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).In(Vietnam) }

func fromNullMillis(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMillis(v.Int64)
	return &t
}

// Rules implements Store.
func (s *SQLStore) Rules(ctx context.Context) ([]Rule, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, body FROM alarm_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, fmt.Errorf("list rules: %w", err)
		}
		var r Rule
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return nil, fmt.Errorf("rule %s: decode: %w", id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return out, nil
}

// PutRule implements Store.
func (s *SQLStore) PutRule(ctx context.Context, r Rule) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("rule %s: encode: %w", r.ID, err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO alarm_rules (id, body, updated_at) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`), r.ID, string(body), time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("rule %s: save: %w", r.ID, err)
	}
	return nil
}

// DeleteRule implements Store.
func (s *SQLStore) DeleteRule(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM alarm_rules WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("rule %s: delete: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("rule %s: delete: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	return nil
}
