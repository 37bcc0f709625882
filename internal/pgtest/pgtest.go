// Package pgtest gives tests a fresh PostgreSQL schema on the real server: the project machine's at
// 127.0.0.1:5432 (database test, trust auth), or the one named by IOC_TEST_POSTGRES. A server that
// cannot be reached fails the test; it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// DefaultDSN is the server tests use unless IOC_TEST_POSTGRES names another.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseDSN is the DSN of the test server's database.
func BaseDSN() string {
	if dsn := os.Getenv("IOC_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Schema creates a uniquely named schema (prefix + random hex), drops it when the test ends, and
// returns a DSN whose search_path is that schema.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := BaseDSN()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres %s: %v", base, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		t.Fatalf("postgres %s is required for this test (make test starts one): %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
