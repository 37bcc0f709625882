package influx

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrSpoolFull is returned by append when the spool has no room and its policy is to block, once ctx
// ends, and by an append of a chunk larger than the whole spool.
var ErrSpoolFull = errors.New("influx spool full")

// spool is an on-disk FIFO of line-protocol chunks, bounded in bytes. Appends go to the newest segment
// file (fsynced before append returns, so a spooled point survives a crash of ioc); segments are
// replayed and removed oldest first. Segment files are named by a sequence number (%020d.lp) and hold
// whole lines; a torn last line left by a crash mid-append (never acknowledged) is cut at load.
//
// All methods are safe for concurrent use; mu guards every field below it.
type spool struct {
	dir      string
	maxBytes int64
	onFull   string
	segBytes int64    // a segment is closed at this size …
	segLines int      // … or this many points
	lock     *os.File // holds an exclusive flock on dir/LOCK: one ioc per spool

	mu       sync.Mutex
	segs     []segment // closed segments, oldest first
	cur      *os.File  // segment being appended to, or nil
	curSeg   segment
	next     uint64        // sequence number of the next segment
	bytes    int64         // total of segs and cur
	points   int           // total of segs and cur
	inflight uint64        // sequence being replayed (0: none); drop_oldest leaves it alone
	room     chan struct{} // closed and replaced whenever space is freed (wakes blocked appends)
}

type segment struct {
	seq    uint64
	bytes  int64
	points int
}

// spoolDrop reports points dropped by a drop_oldest append.
type spoolDrop struct {
	points int
}

func openSpool(dir string, maxBytes int64, onFull string, segLines int) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("influx spool: %s is in use by another ioc (give each its own influx.spool.dir): %w", dir, err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, onFull: onFull, segLines: segLines, lock: lock,
		segBytes: min(max(maxBytes/8, 64<<10), 8<<20), next: 1, room: make(chan struct{})}
	if err := s.load(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// load finds the segments a previous run left.
func (s *spool) load() error {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.lp"))
	if err != nil {
		return fmt.Errorf("influx spool: %w", err)
	}
	for _, name := range names {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".lp"), 10, 64)
		if err != nil {
			continue // not ours
		}
		seg, err := loadSegment(name, seq)
		if err != nil {
			return err
		}
		if seg.points == 0 {
			if err := os.Remove(name); err != nil {
				return fmt.Errorf("influx spool: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.bytes
		s.points += seg.points
		s.next = max(s.next, seq+1)
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmp.Compare(a.seq, b.seq) })
	return nil
}

// loadSegment counts a segment's lines, cutting a torn last line.
func loadSegment(name string, seq uint64) (segment, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return segment{}, fmt.Errorf("influx spool: %w", err)
	}
	whole := bytes.LastIndexByte(data, '\n') + 1
	if whole < len(data) {
		if err := os.Truncate(name, int64(whole)); err != nil {
			return segment{}, fmt.Errorf("influx spool: cut torn line of %s: %w", name, err)
		}
	}
	return segment{seq: seq, bytes: int64(whole), points: bytes.Count(data[:whole], []byte{'\n'})}, nil
}

func (s *spool) path(seq uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%020d.lp", seq)) }

// size reports the spooled bytes and points.
func (s *spool) size() (int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, s.points
}

// full reports whether a chunk of n bytes would not fit now.
func (s *spool) full(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes+n > s.maxBytes
}

// append adds whole lines (points of them) durably. When there is no room, on_full: block waits for
// the replay to free some until ctx ends (then ErrSpoolFull); drop_oldest removes the oldest segments
// and reports the points it dropped.
func (s *spool) append(ctx context.Context, data []byte, points int) (spoolDrop, error) {
	var dropped spoolDrop
	n := int64(len(data))
	if n > s.maxBytes {
		return dropped, fmt.Errorf("%w: a chunk of %d bytes is larger than spool.max_bytes %d", ErrSpoolFull, n, s.maxBytes)
	}
	for {
		s.mu.Lock()
		if s.bytes+n <= s.maxBytes {
			break // with s.mu held
		}
		if s.onFull == OnFullDropOldest {
			dp, err := s.dropOldestLocked()
			dropped.points += dp
			if err != nil || dp == 0 {
				s.mu.Unlock()
				if err == nil {
					err = fmt.Errorf("%w: nothing left to drop", ErrSpoolFull)
				}
				return dropped, err
			}
			s.mu.Unlock()
			continue
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return dropped, fmt.Errorf("%w (on_full: block): %w", ErrSpoolFull, ctx.Err())
		}
	}
	defer s.mu.Unlock()
	if err := s.writeLocked(data, points); err != nil {
		return dropped, err
	}
	return dropped, nil
}

func (s *spool) writeLocked(data []byte, points int) error {
	if s.cur == nil {
		seq := s.next
		f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("influx spool: %w", err)
		}
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return err
		}
		s.next++
		s.cur, s.curSeg = f, segment{seq: seq}
	}
	if _, err := s.cur.Write(data); err != nil {
		return fmt.Errorf("influx spool: write %s: %w", s.cur.Name(), err)
	}
	if err := s.cur.Sync(); err != nil {
		return fmt.Errorf("influx spool: sync %s: %w", s.cur.Name(), err)
	}
	s.curSeg.bytes += int64(len(data))
	s.curSeg.points += points
	s.bytes += int64(len(data))
	s.points += points
	if s.curSeg.bytes >= s.segBytes || s.curSeg.points >= s.segLines {
		return s.rotateLocked()
	}
	return nil
}

// rotateLocked closes the current segment; it becomes the newest closed one.
func (s *spool) rotateLocked() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.segs = append(s.segs, s.curSeg)
	s.cur, s.curSeg = nil, segment{}
	if err != nil {
		return fmt.Errorf("influx spool: close segment: %w", err)
	}
	return nil
}

// dropOldestLocked removes the oldest segment not being replayed and returns its point count.
func (s *spool) dropOldestLocked() (int, error) {
	for i, seg := range s.segs {
		if seg.seq == s.inflight {
			continue
		}
		if err := s.removeLocked(i); err != nil {
			return 0, err
		}
		return seg.points, nil
	}
	if s.cur != nil && s.curSeg.points > 0 {
		if err := s.rotateLocked(); err != nil {
			return 0, err
		}
		return s.dropOldestLocked()
	}
	return 0, nil
}

func (s *spool) removeLocked(i int) error {
	seg := s.segs[i]
	if err := os.Remove(s.path(seg.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("influx spool: %w", err)
	}
	s.segs = slices.Delete(s.segs, i, i+1)
	s.bytes -= seg.bytes
	s.points -= seg.points
	close(s.room)
	s.room = make(chan struct{})
	return nil
}

// oldest returns the oldest segment's lines for replay (closing the current segment if it is the only
// one) and marks it in flight; ok is false when the spool is empty.
func (s *spool) oldest() (seg segment, data []byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 {
		if s.cur == nil || s.curSeg.points == 0 {
			return segment{}, nil, false, nil
		}
		if err := s.rotateLocked(); err != nil {
			return segment{}, nil, false, err
		}
	}
	seg = s.segs[0]
	data, err = os.ReadFile(s.path(seg.seq))
	if err != nil {
		return segment{}, nil, false, fmt.Errorf("influx spool: %w", err)
	}
	s.inflight = seg.seq
	return seg, data, true, nil
}

// done removes a replayed segment. It reports false when drop_oldest removed it meanwhile.
func (s *spool) done(seq uint64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
	for i, seg := range s.segs {
		if seg.seq == seq {
			return true, s.removeLocked(i)
		}
	}
	return false, nil
}

// release clears the in-flight mark after a failed replay.
func (s *spool) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
}

// close closes the current segment file and releases the lock; everything spooled stays on disk.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.rotateLocked(), s.lock.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("influx spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("influx spool: sync %s: %w", dir, err)
	}
	return nil
}
