package mqtt

import (
	"sync"
	"time"
)

// stampKeep is how long the stamper remembers an entity after its last stamp. Within it a stamp stays
// strictly after the previous one even if the clock steps back; after it the clock alone keeps stamps
// apart.
const stampKeep = 10 * time.Minute

// stamper gives readings that carry no time of their own (a ThingsBoard entry without "ts", a SenML
// record without "t" and "bt") a time that is unique and strictly increasing per entity: the receive
// time in whole milliseconds (the stores' key resolution), or one millisecond after the entity's
// previous stamp when the clock has not moved past it (several readings of one device in one
// millisecond, the elements of one array, a clock stepped back). So the stores, which key readings by
// (entity, field, millisecond), keep every one of them.
//
// Stamps run ahead of the clock only while one entity sends more than 1,000 time-less readings a
// second, and fall back to it as soon as it sends fewer. The memory is per process: after a restart
// stamps start again from the clock. It is safe for concurrent use.
type stamper struct {
	mu    sync.Mutex
	last  map[string]int64 // entity → its last stamp, Unix milliseconds
	swept int64            // Unix milliseconds of the last sweep
}

func newStamper() *stamper { return &stamper{last: map[string]int64{}} }

// stamp returns the next time for a time-less reading of entity received at now.
func (s *stamper) stamp(entity string, now time.Time) time.Time {
	ms := now.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.last[entity]; ok && l >= ms {
		ms = l + 1
	}
	s.last[entity] = ms
	s.sweep(now.UnixMilli())
	return time.UnixMilli(ms).UTC()
}

// sweep forgets, once per stampKeep, the entities not stamped for stampKeep, so the map holds only the
// devices that sent time-less readings recently.
func (s *stamper) sweep(now int64) {
	keep := stampKeep.Milliseconds()
	if now-s.swept < keep {
		return
	}
	s.swept = now
	for e, l := range s.last {
		if now-l > keep {
			delete(s.last, e)
		}
	}
}
