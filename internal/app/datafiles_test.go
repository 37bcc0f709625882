//go:build unix

package app

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDataFilesAreOwnerOnly starts ioc on a data directory left world-readable by an older version
// (0755, databases and a photo 0644, a stale -wal) with the usual umask 022, and finds every file 0600
// and every directory 0700 once it runs, -wal and -shm included.
func TestDataFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	cfg := testConfig(t)
	dir := filepath.Dir(cfg.Store.Path)
	for _, d := range []string{dir, cfg.Reports.PhotoDir, filepath.Join(cfg.Reports.PhotoDir, "ab")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{cfg.Reports.Store.Path, cfg.Auth.Store.Path + "-wal", filepath.Join(cfg.Reports.PhotoDir, "ab", "cdef.jpg")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := startApp(t, cfg)
	if _, err := a.Auth.Store().Users(t.Context()); err != nil { // a read through the WAL: -shm exists now
		t.Fatal(err)
	}
	var files int
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
			seen[filepath.Base(p)] = true
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ioc.db", "ioc.db-wal", "ioc.db-shm", "auth.db", "auth.db-wal", "auth.db-shm", "alarms.db", "reports.db", "form-secret", "cdef.jpg"} {
		if !seen[name] {
			t.Errorf("%s was not there to check (found %d files: %v)", name, files, seen)
		}
	}
}
