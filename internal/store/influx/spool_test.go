package influx

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSpoolReload: segments left by a previous run are found in sequence order, a torn last line (a
// crash in the middle of an append, never acknowledged) is cut, and new segments continue the sequence.
func TestSpoolReload(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"00000000000000000002.lp": "m v=3 3\nm v=4 4\nm v=5",
		"00000000000000000001.lp": "m v=1 1\nm v=2 2\n",
		"00000000000000000003.lp": "m v=",
		"notes.txt":               "not a segment",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := openSpool(dir, 1<<20, OnFullBlock, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if b, p := sp.size(); p != 4 || b != 32 {
		t.Fatalf("reloaded spool: %d points, %d bytes; want 4 points, 32 bytes", p, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000003.lp")); !os.IsNotExist(err) {
		t.Errorf("a segment holding only a torn line was kept: %v", err)
	}
	if _, err := sp.append(context.Background(), []byte("m v=6 6\n"), 1); err != nil {
		t.Fatal(err)
	}
	var got string
	for {
		seg, data, ok, err := sp.oldest()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got += string(data)
		if removed, err := sp.done(seg.seq); err != nil || !removed {
			t.Fatalf("done(%d) = %v, %v", seg.seq, removed, err)
		}
	}
	if want := "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=6 6\n"; got != want {
		t.Fatalf("replayed %q, want %q", got, want)
	}
	if b, p := sp.size(); b != 0 || p != 0 {
		t.Fatalf("spool not empty after replay: %d bytes, %d points", b, p)
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolLock: a second ioc cannot open a spool in use; it can once the first closed it.
func TestSpoolLock(t *testing.T) {
	dir := t.TempDir()
	first, err := openSpool(dir, 1<<20, OnFullBlock, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openSpool(dir, 1<<20, OnFullBlock, 5000); err == nil {
		t.Fatal("a second spool opened the same directory")
	}
	if err := first.close(); err != nil {
		t.Fatal(err)
	}
	again, err := openSpool(dir, 1<<20, OnFullBlock, 5000)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	if err := again.close(); err != nil {
		t.Fatal(err)
	}
}
