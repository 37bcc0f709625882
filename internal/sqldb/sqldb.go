// Package sqldb opens the SQL databases ioc's stores share code on: SQLite (modernc, no cgo) for a
// single node, PostgreSQL (pgx) for several, with one set of statements written with ? placeholders.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver (no cgo)
)

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Config says where a store is kept.
type Config struct {
	Driver string `yaml:"driver"` // sqlite (default) or postgres
	Path   string `yaml:"path"`   // sqlite: database file
	DSN    string `yaml:"dsn"`    // postgres: postgres://user@host:5432/db?search_path=…
}

// Open opens the configured database: for SQLite the file at path in WAL mode, fully synced, waiting up to
// 10 s on a lock, with one connection (SQLite serialises writes anyway; this avoids SQLITE_BUSY) and
// any extra pragmas ("foreign_keys(1)"); for PostgreSQL the DSN with pgConns connections. It reports
// whether the database is PostgreSQL (statements then need Rebind).
func Open(c Config, pgConns int, pragmas ...string) (*sql.DB, bool, error) {
	driver, path, dsn := c.Driver, c.Path, c.DSN
	switch driver {
	case SQLite, "":
		q := url.Values{}
		for _, p := range append([]string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"}, pragmas...) {
			q.Add("_pragma", p)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, false, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		db.SetMaxOpenConns(1)
		return db, false, nil
	case Postgres:
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, false, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(pgConns)
		db.SetMaxIdleConns(pgConns)
		return db, true, nil
	}
	return nil, false, fmt.Errorf("unknown database driver %q (sqlite or postgres)", driver)
}

// Rebind rewrites ? placeholders as $1, $2 … when pg is true.
func Rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// MigrationLock is the PostgreSQL advisory lock key every ioc store takes while it creates or migrates
// its tables: one key for the whole database, so stores of several nodes (and several stores of one
// node) never run DDL at once. A node waiting at start shows in pg_locks as an advisory lock not
// granted with classid 105 and objid 1868780355 (the key's high and low 32 bits). Any constant shared
// by every ioc version would do; this one spells "ioc" and "SC".
const MigrationLock int64 = 0x69_6f635343

// Migrate runs migrate, the schema creation and migrations of one store, so that stores starting at
// the same instant on several nodes cannot collide. On PostgreSQL concurrent CREATE TABLE IF NOT
// EXISTS of one name fails (SQLSTATE 23505 on pg_type_typname_nsp_index), so Migrate first takes a
// transaction-scoped advisory lock on its own connection and holds it until migrate returns: migrate
// runs on other connections of db (the pool needs two), and a node that dies mid-way drops its
// connection and with it the lock. The others wait for the lock (as long as ctx allows), then find the
// schema made and have nothing to do. On SQLite migrate runs directly: the database file's write lock
// and busy_timeout serialise writers.
func Migrate(ctx context.Context, db *sql.DB, pg bool, migrate func(context.Context) error) error {
	if !pg {
		return migrate(ctx)
	}
	lock, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	if _, err := lock.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", MigrationLock); err != nil {
		return errors.Join(fmt.Errorf("migration lock: %w", err), lock.Rollback())
	}
	err = migrate(ctx)
	if rerr := lock.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		err = errors.Join(err, fmt.Errorf("migration unlock: %w", rerr))
	}
	return err
}
