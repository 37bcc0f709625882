package photo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// Disk keeps blobs as files in one directory. Put writes a temporary file, syncs it and renames it
// into place, then syncs the directory, so a stored blob survives a crash.
type Disk struct {
	Dir string
}

var _ Blobs = (*Disk)(nil)

var keyRE = regexp.MustCompile(`^[0-9A-Za-z_.-]{1,100}$`)

func (d *Disk) path(key string) (string, error) {
	if !keyRE.MatchString(key) || key[0] == '.' {
		return "", fmt.Errorf("bad blob key %q", key)
	}
	return filepath.Join(d.Dir, key), nil
}

// Put stores data under key durably.
func (d *Disk) Put(_ context.Context, key string, data []byte) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return fmt.Errorf("create blob dir: %w", err)
	}
	f, err := os.CreateTemp(d.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create blob: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write blob: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close blob: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("rename blob: %w", err)
	}
	dir, err := os.Open(d.Dir)
	if err != nil {
		return fmt.Errorf("open blob dir: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("sync blob dir: %w", err)
	}
	return nil
}

// Get returns the blob stored under key or ErrNotFound.
func (d *Disk) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read blob: %w", err)
	}
	return b, nil
}
