// Package sqlite is ioc's embedded store: one SQLite file (modernc.org/sqlite, no cgo) holding
// readings, non-telemetry events and the latest state of every entity. It is a durable stream.Sink and
// answers stream.ReadingStore and stream.EventStore queries.
//
// Writes are idempotent: a reading is keyed by (entity, field, millisecond) and an event by (type,
// entity, time, event id), so an MQTT redelivery stores nothing twice. A reading that lands on a stored
// key with a different value (a device that sends two values for one time) replaces it and is counted
// in ioc_store_reading_clashes_total{store="sqlite",reason="overwritten"}: never a silent overwrite. The database runs in WAL mode with
// synchronous=NORMAL: a committed write survives a crash of the ioc process (kill -9); a power cut may
// lose the last transactions (set store.path on a disk with a battery-backed cache for more).
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/stream"
)

// Store is the SQLite store.
type Store struct {
	w *sql.DB // one writer connection
	r *sql.DB // readers

	noReadings atomic.Bool // telemetry history is kept elsewhere (InfluxDB)
	clashes    prometheus.Counter

	upserts map[int]*sql.Stmt // entity upserts by rows per statement, prepared on w in Open
}

// ClashOverwritten is the reason label of a reading clash: a reading with the key (entity, field,
// millisecond) of a stored one and another value replaced it.
const ClashOverwritten = "overwritten"

// NewClashCounter builds ioc_store_reading_clashes_total, the readings that landed on the key of a stored
// reading with a different value, by store and reason (a bounded label), and registers it with reg
// (when not nil). It is shared by the SQLite and InfluxDB stores.
func NewClashCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_store_reading_clashes_total",
		Help: "Readings written on the key (entity, field, millisecond) of a stored reading with a different value, by store and reason."},
		[]string{"store", "reason"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

// CountClashes makes the store count reading clashes in c (labelled store="sqlite"); without it they
// are counted in a counter nobody gathers.
func (s *Store) CountClashes(c *prometheus.CounterVec) {
	s.clashes = c.WithLabelValues("sqlite", ClashOverwritten)
}

var (
	_ stream.Sink         = (*Store)(nil)
	_ stream.ReadingStore = (*Store)(nil)
	_ stream.EventStore   = (*Store)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS readings (
	entity TEXT NOT NULL,
	field  TEXT NOT NULL,
	ts     INTEGER NOT NULL, -- Unix milliseconds
	value  REAL NOT NULL,
	PRIMARY KEY (entity, field, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
	type     TEXT NOT NULL,
	entity   TEXT NOT NULL,
	ts       INTEGER NOT NULL,
	event_id TEXT NOT NULL,
	kind     TEXT NOT NULL,
	lon      REAL, lat REAL,
	vals     TEXT NOT NULL, attrs TEXT NOT NULL, areas TEXT NOT NULL,
	PRIMARY KEY (type, entity, ts, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS entities (
	id    TEXT PRIMARY KEY,
	type  TEXT NOT NULL,
	kind  TEXT NOT NULL,
	ts    INTEGER NOT NULL,
	lon   REAL, lat REAL,
	vals  TEXT NOT NULL, attrs TEXT NOT NULL, areas TEXT NOT NULL
);
`

// Open opens (creating if needed) the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: create schema in %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, clashes: NewClashCounter(nil).WithLabelValues("sqlite", ClashOverwritten)}
	if err := s.prepareUpserts(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.upserts {
		errs = append(errs, st.Close())
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// Check reports readiness.
func (s *Store) Check(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// KeepReadings sets whether telemetry values are stored as readings (the default). ioc turns it off when
// InfluxDB keeps the history; entity state and non-telemetry events are stored either way.
func (s *Store) KeepReadings(keep bool) { s.noReadings.Store(!keep) }

// Write stores a batch in one transaction: telemetry values as readings, other events as events, and
// the newest state of each entity.
func (s *Store) Write(ctx context.Context, events []stream.Event) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	clashes, err := s.writeTx(ctx, tx, events, !s.noReadings.Load())
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	s.clashes.Add(float64(clashes)) // after the commit: a retried batch is counted once
	return nil
}

// readingWriter inserts readings: a new key is inserted, the same value again (a redelivery) changes
// nothing, another value on a stored key replaces it and is counted as a clash.
type readingWriter struct {
	tx      *sql.Tx
	insert  *sql.Stmt
	replace *sql.Stmt // prepared at the first clash
	clashes int
}

func (w *readingWriter) write(ctx context.Context, entity, field string, ts int64, v float64) error {
	res, err := w.insert.ExecContext(ctx, entity, field, ts, v)
	if err != nil {
		return fmt.Errorf("sqlite: insert reading %s/%s: %w", entity, field, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: insert reading %s/%s: %w", entity, field, err)
	}
	if n == 1 {
		return nil
	}
	if w.replace == nil {
		if w.replace, err = w.tx.PrepareContext(ctx, `UPDATE readings SET value = ?
			WHERE entity = ? AND field = ? AND ts = ? AND value IS NOT ?`); err != nil {
			return fmt.Errorf("sqlite: prepare reading replace: %w", err)
		}
	}
	if res, err = w.replace.ExecContext(ctx, v, entity, field, ts, v); err != nil {
		return fmt.Errorf("sqlite: replace reading %s/%s: %w", entity, field, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		w.clashes++
	}
	return nil
}

func (w *readingWriter) close() {
	w.insert.Close()
	if w.replace != nil {
		w.replace.Close()
	}
}

// writeTx writes a batch in tx and returns how many readings clashed.
func (s *Store) writeTx(ctx context.Context, tx *sql.Tx, events []stream.Event, readings bool) (int, error) {
	ins, err := tx.PrepareContext(ctx, `INSERT INTO readings (entity, field, ts, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (entity, field, ts) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare readings: %w", err)
	}
	rd := &readingWriter{tx: tx, insert: ins}
	defer rd.close()
	ev, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO events (type, entity, ts, event_id, kind, lon, lat, vals, attrs, areas)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare events: %w", err)
	}
	defer ev.Close()
	latest := map[string]int{}
	for i := range events {
		e := &events[i]
		ts := e.Time.UnixMilli()
		if e.Type == stream.TypeTelemetry {
			for f, v := range e.Values {
				if !readings {
					break
				}
				if err := rd.write(ctx, e.Entity, f, ts, v); err != nil {
					return 0, err
				}
			}
		} else {
			lon, lat := location(e)
			if _, err := ev.ExecContext(ctx, e.Type, e.Entity, ts, e.Attrs["event_id"], e.Kind, lon, lat,
				jsonText(e.Values), jsonText(e.Attrs), jsonText(e.Areas)); err != nil {
				return 0, fmt.Errorf("sqlite: insert event %s: %w", e.Entity, err)
			}
		}
		if j, ok := latest[e.Entity]; !ok || !e.Time.Before(events[j].Time) {
			latest[e.Entity] = i
		}
	}
	if err := s.writeEntities(ctx, tx, events, latest); err != nil {
		return 0, err
	}
	return rd.clashes, nil
}

func location(e *stream.Event) (lon, lat any) {
	if !e.HasLocation {
		return nil, nil
	}
	return e.Location[0], e.Location[1]
}

// Readings answers a history query.
func (s *Store) Readings(ctx context.Context, q stream.ReadingQuery) ([]stream.Sample, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100000
	}
	var query string
	args := []any{q.Entity, q.Field, q.From.UnixMilli(), q.To.UnixMilli()}
	if q.Every == 0 {
		query = `SELECT ts, value FROM readings WHERE entity = ? AND field = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?`
	} else {
		every := q.Every.Milliseconds()
		if every <= 0 {
			return nil, fmt.Errorf("every must be at least 1ms")
		}
		// Windows start at offset plus multiples of every since the Unix epoch (times before 1970 are
		// refused upstream; ts - offset may be negative for the first hours, hence the adjusted modulo).
		off := q.OffsetMillis()
		bucket := fmt.Sprintf("(ts - ((ts - %[2]d) %% %[1]d + %[1]d) %% %[1]d)", every, off)
		if q.Agg == "last" { // SQLite takes the bare column value from the row holding max(ts)
			query = fmt.Sprintf(`SELECT bucket, value FROM (SELECT %s AS bucket, max(ts), value FROM readings
				WHERE entity = ? AND field = ? AND ts >= ? AND ts < ? GROUP BY bucket) ORDER BY bucket LIMIT ?`, bucket)
		} else {
			agg := map[string]string{"mean": "avg(value)", "min": "min(value)", "max": "max(value)", "count": "count(*)"}[q.Agg]
			query = fmt.Sprintf(`SELECT %s AS bucket, %s FROM readings
				WHERE entity = ? AND field = ? AND ts >= ? AND ts < ? GROUP BY bucket ORDER BY bucket LIMIT ?`, bucket, agg)
		}
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: readings: %w", err)
	}
	defer rows.Close()
	var out []stream.Sample
	for rows.Next() {
		var ts int64
		var v float64
		if err := rows.Scan(&ts, &v); err != nil {
			return nil, fmt.Errorf("sqlite: readings: %w", err)
		}
		out = append(out, stream.Sample{Time: time.UnixMilli(ts).UTC(), Value: v})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: readings: %w", err)
	}
	return out, nil
}

// Events answers an event query, newest first: at most q.Limit events (1,000 when it is not set or
// above 10,000).
func (s *Store) Events(ctx context.Context, q stream.EventQuery) ([]stream.Event, error) {
	return s.EventsIn(ctx, q, nil)
}

// EventsIn is Events narrowed to the events in any of areas (admin area codes at any level, matched
// against each event's Areas; an event without areas is in none). The narrowing happens in the query,
// before the limit, so a caller scoped to some areas gets up to q.Limit of their own events however
// many newer ones lie elsewhere. No areas: every event, as Events.
func (s *Store) EventsIn(ctx context.Context, q stream.EventQuery, areas []string) ([]stream.Event, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if q.Type != "" {
		add("type = ?", q.Type)
	}
	if q.Entity != "" {
		add("entity = ?", q.Entity)
	}
	if q.Kind != "" {
		add("kind = ?", q.Kind)
	}
	if !q.From.IsZero() {
		add("ts >= ?", q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		add("ts < ?", q.To.UnixMilli())
	}
	for k, v := range q.Attrs {
		add("json_extract(attrs, '$.' || json_quote(?)) = ?", k)
		args = append(args, v)
	}
	if len(areas) > 0 { // the events_ts index orders the scan; each row's areas object is read in place
		where = append(where, "EXISTS (SELECT 1 FROM json_each(events.areas) WHERE json_each.value IN (?"+
			strings.Repeat(", ?", len(areas)-1)+"))")
		for _, a := range areas {
			args = append(args, a)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	query := `SELECT type, entity, ts, kind, lon, lat, vals, attrs, areas FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY ts DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	var out []stream.Event
	for rows.Next() {
		var e stream.Event
		var ts int64
		var lon, lat sql.NullFloat64
		var vals, attrs, areas string
		if err := rows.Scan(&e.Type, &e.Entity, &ts, &e.Kind, &lon, &lat, &vals, &attrs, &areas); err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		e.Time = time.UnixMilli(ts).UTC()
		if lon.Valid && lat.Valid {
			e.Location, e.HasLocation = orb.Point{lon.Float64, lat.Float64}, true
		}
		if err := unjson(vals, &e.Values, attrs, &e.Attrs, areas, &e.Areas); err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Entities returns the saved latest state of every entity, to restore the registry at start.
func (s *Store) Entities(ctx context.Context) ([]registry.Entity, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, kind, ts, lon, lat, vals, attrs, areas FROM entities`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: entities: %w", err)
	}
	defer rows.Close()
	var out []registry.Entity
	for rows.Next() {
		var e registry.Entity
		var ts int64
		var lon, lat sql.NullFloat64
		var vals, attrs, areas string
		if err := rows.Scan(&e.ID, &e.Type, &e.Kind, &ts, &lon, &lat, &vals, &attrs, &areas); err != nil {
			return nil, fmt.Errorf("sqlite: entities: %w", err)
		}
		e.Time = time.UnixMilli(ts).UTC()
		if lon.Valid && lat.Valid {
			e.Location, e.HasLocation = orb.Point{lon.Float64, lat.Float64}, true
		}
		if err := unjson(vals, &e.Values, attrs, &e.Attrs, areas, &e.Areas); err != nil {
			return nil, fmt.Errorf("sqlite: entities: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func unjson(vals string, v *map[string]float64, attrs string, a *map[string]string, areas string, ar *map[string]string) error {
	if err := json.Unmarshal([]byte(vals), v); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(attrs), a); err != nil {
		return err
	}
	return json.Unmarshal([]byte(areas), ar)
}
