package sqldb

import (
	"path/filepath"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct {
		pg       bool
		in, want string
	}{
		{false, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{true, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{true, "INSERT INTO t VALUES ('ngập', ?)", "INSERT INTO t VALUES ('ngập', $1)"},
	} {
		if got := Rebind(tc.pg, tc.in); got != tc.want {
			t.Errorf("Rebind(%v, %q) = %q, want %q", tc.pg, tc.in, got, tc.want)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	db, pg, err := Open(Config{Driver: SQLite, Path: filepath.Join(t.TempDir(), "x.db")}, 0, "foreign_keys(1)")
	if err != nil || pg {
		t.Fatalf("open: %v pg=%v", err, pg)
	}
	defer db.Close()
	var mode string
	var fk int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v", mode, err)
	}
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d, %v", fk, err)
	}
	if _, _, err := Open(Config{Driver: "mysql"}, 0); err == nil {
		t.Error("unknown driver accepted")
	}
}
