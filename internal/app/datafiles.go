package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/report"
)

// Modes of ioc's data: the databases hold password hashes, sessions and citizens' contacts, the photo
// directory citizens' photos; only the account ioc runs as may read them.
const (
	privateDir  fs.FileMode = 0o700
	privateFile fs.FileMode = 0o600
)

// secureData makes ioc's data owner-only before anything opens it: every SQLite database is created
// 0600 when missing (SQLite gives its -wal, -shm and -journal files the mode of the database, so they
// follow) and tightened to 0600 with its companions when it exists; the directories holding them are
// created 0700 or tightened to it; the photo and spool trees and the generated secrets are tightened
// the same way. A directory with the sticky bit (/tmp) and the working directory are shared with
// others and left as they are. ioc serve also runs with umask 077 (cmd/ioc), which covers files made
// later.
func secureData(cfg config.Config) error {
	var errs []error
	for _, p := range sqlitePaths(cfg) {
		errs = append(errs, secureSQLite(p))
	}
	trees := []string{cfg.Reports.PhotoDir}
	if cfg.Influx.Enabled {
		trees = append(trees, cfg.Influx.Spool.Dir)
	}
	for _, d := range trees {
		errs = append(errs, secureTree(d))
	}
	for _, name := range []string{"admin-password", "form-secret"} {
		errs = append(errs, chmodIfExists(filepath.Join(filepath.Dir(cfg.Store.Path), name), privateFile))
	}
	return errors.Join(errs...)
}

// sqlitePaths lists the SQLite databases cfg keeps.
func sqlitePaths(cfg config.Config) []string {
	paths := []string{cfg.Store.Path}
	if cfg.Auth.Store.Driver == "sqlite" {
		paths = append(paths, authDBPath(cfg))
	}
	if cfg.Alarm.Store.Type != "postgres" {
		paths = append(paths, cfg.Alarm.Store.Path)
	}
	if cfg.Reports.Store.Driver == report.DriverSQLite {
		paths = append(paths, cfg.Reports.Store.Path)
	}
	if cfg.Indicators.Store.Driver != "postgres" {
		paths = append(paths, indicatorsDBPath(cfg, cfg.Indicators.Store.Path))
	}
	return paths
}

// authDBPath is the account database: auth.store.path, or auth.db beside the embedded store.
func authDBPath(cfg config.Config) string {
	if p := cfg.Auth.Store.Path; p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.Store.Path), "auth.db")
}

// secureSQLite prepares the database at path: its directory 0700, the file 0600 (created empty when
// missing, which SQLite reads as an empty database), and any -wal, -shm or -journal left 0600.
func secureSQLite(path string) error {
	if err := secureDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, privateFile)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	errs := []error{chmodIfExists(path, privateFile)}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		errs = append(errs, chmodIfExists(path+suffix, privateFile))
	}
	return errors.Join(errs...)
}

// secureDir creates dir 0700, or tightens it to 0700 unless it is shared (sticky, or the working
// directory).
func secureDir(dir string) error {
	if err := os.MkdirAll(dir, privateDir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if st.Mode()&fs.ModeSticky != 0 || st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if wd, err := os.Getwd(); err == nil {
		if same, err := os.Stat(wd); err == nil && os.SameFile(st, same) {
			return nil
		}
	}
	if err := os.Chmod(dir, privateDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// secureTree tightens an existing directory that is ioc's alone (photos, the spool): every directory
// in it 0700, every file 0600. Symbolic links are not followed.
func secureTree(root string) error {
	if root == "" {
		return nil
	}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("tighten %s: %w", root, err)
		}
		want := privateFile
		switch {
		case d.IsDir():
			want = privateDir
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("tighten %s: %w", p, err)
		}
		if info.Mode().Perm()&0o077 == 0 {
			return nil
		}
		if err := os.Chmod(p, want); err != nil {
			return fmt.Errorf("tighten %s: %w", p, err)
		}
		return nil
	})
}

// chmodIfExists sets path's mode when the file exists.
func chmodIfExists(path string, mode fs.FileMode) error {
	err := os.Chmod(path, mode)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("tighten %s: %w", path, err)
}
