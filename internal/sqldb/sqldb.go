// Package sqldb opens the SQL databases ioc's stores share code on: SQLite (modernc, no cgo) for a
// single node, PostgreSQL (pgx) for several, with one set of statements written with ? placeholders.
package sqldb

import (
	"database/sql"
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
