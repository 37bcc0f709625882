package indicator

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/sqldb"
)

// Store keeps the latest computed value of each (indicator, area, period) with its lineage; a
// recompute replaces it. Safe for concurrent use.
type Store struct {
	db *sql.DB
	pg bool
}

const schema = `CREATE TABLE IF NOT EXISTS indicator_values (
	indicator TEXT NOT NULL,
	area TEXT NOT NULL,
	period_key TEXT NOT NULL,
	period TEXT NOT NULL,
	level TEXT NOT NULL,
	area_name TEXT NOT NULL,
	start_ms BIGINT NOT NULL,
	end_ms BIGINT NOT NULL,
	value DOUBLE PRECISION,
	lineage TEXT NOT NULL,
	PRIMARY KEY (indicator, area, period_key)
);
CREATE INDEX IF NOT EXISTS indicator_values_start ON indicator_values (start_ms)`

// OpenStore opens (creating) the value store.
func OpenStore(ctx context.Context, c sqldb.Config) (*Store, error) {
	db, pg, err := sqldb.Open(c, 4)
	if err != nil {
		return nil, fmt.Errorf("indicator store: %w", err)
	}
	for _, stmt := range strings.Split(schema, ";\n") {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, errors.Join(fmt.Errorf("indicator store: schema: %w", err), db.Close())
		}
	}
	return &Store{db: db, pg: pg}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Check reports whether the database answers (for /readyz).
func (s *Store) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// Put stores values, replacing earlier values of the same indicator, area and period, in one
// transaction.
func (s *Store) Put(ctx context.Context, vs []Value) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("indicator store: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op
	stmt, err := tx.PrepareContext(ctx, sqldb.Rebind(s.pg, `INSERT INTO indicator_values
		(indicator, area, period_key, period, level, area_name, start_ms, end_ms, value, lineage) VALUES (?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (indicator, area, period_key) DO UPDATE SET level = excluded.level, area_name = excluded.area_name,
		value = excluded.value, lineage = excluded.lineage`))
	if err != nil {
		return fmt.Errorf("indicator store: %w", err)
	}
	defer stmt.Close()
	for _, v := range vs {
		lin, err := json.Marshal(v.Lineage)
		if err != nil {
			return fmt.Errorf("indicator store: lineage: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, v.Indicator, v.Area, v.Key, v.Period, v.Level, v.AreaName, v.Start.UnixMilli(),
			v.End.UnixMilli(), v.Value, string(lin)); err != nil {
			return fmt.Errorf("indicator store: put %s %s %s: %w", v.Indicator, v.Area, v.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("indicator store: %w", err)
	}
	return nil
}

// Filter selects stored values; empty fields match everything.
type Filter struct {
	Indicators []string
	Areas      []string
	Key        string    // one period key (2026-12-08, 2026-W50 …)
	From, To   time.Time // periods starting in [From, To)
	Limit      int       // 0: 100,000
}

// Values lists stored values ordered by indicator, period start, level and area. Status and target
// are filled in by the caller from the definitions (they follow the config, not the computation).
func (s *Store) Values(ctx context.Context, f Filter) ([]Value, error) {
	var where []string
	var args []any
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("indicator", f.Indicators)
	in("area", f.Areas)
	if f.Key != "" {
		where = append(where, "period_key = ?")
		args = append(args, f.Key)
	}
	if !f.From.IsZero() {
		where = append(where, "start_ms >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "start_ms < ?")
		args = append(args, f.To.UnixMilli())
	}
	q := `SELECT indicator, area, period_key, period, level, area_name, start_ms, end_ms, value, lineage FROM indicator_values`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100000
	}
	q += " ORDER BY indicator, start_ms, level, area LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, sqldb.Rebind(s.pg, q), args...)
	if err != nil {
		return nil, fmt.Errorf("indicator store: values: %w", err)
	}
	defer rows.Close()
	var out []Value
	for rows.Next() {
		var v Value
		var start, end int64
		var val sql.NullFloat64
		var lin string
		if err := rows.Scan(&v.Indicator, &v.Area, &v.Key, &v.Period, &v.Level, &v.AreaName, &start, &end, &val, &lin); err != nil {
			return nil, fmt.Errorf("indicator store: values: %w", err)
		}
		v.Start, v.End = time.UnixMilli(start), time.UnixMilli(end)
		if val.Valid {
			v.Value = &val.Float64
		}
		if err := json.Unmarshal([]byte(lin), &v.Lineage); err != nil {
			return nil, fmt.Errorf("indicator store: lineage of %s %s %s: %w", v.Indicator, v.Area, v.Key, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("indicator store: values: %w", err)
	}
	return out, nil
}
