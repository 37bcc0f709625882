package camera

import (
	"sort"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// Collapser folds identical repeats (same key: camera, label, vendor event type, state) within a
// window into one event carrying Values["count"]. The first event of a window is emitted at once with
// count 1; repeats inside the window are held, and when the window closes the last of them is emitted
// with count = the number of repeats it stands for. So the counts of emitted events always add up to
// the raw alerts received. A zero window disables collapsing. Safe for concurrent use.
type Collapser struct {
	window time.Duration

	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	start time.Time
	n     int // repeats held since start
	last  stream.Event
}

// NewCollapser builds a Collapser with the given window.
func NewCollapser(window time.Duration) *Collapser {
	return &Collapser{window: window, slots: map[string]*slot{}}
}

// Key builds a collapse key.
func Key(camera, label, eventType, state string) string {
	return camera + "\x00" + label + "\x00" + eventType + "\x00" + state
}

// Offer takes one event at time now and returns what to emit now: nothing (a held repeat), the
// event itself, or a closed window's summary followed by the event. The returned events carry
// Values["count"]; ev's maps become owned by the Collapser.
func (c *Collapser) Offer(key string, ev stream.Event, now time.Time) []stream.Event {
	if ev.Values == nil {
		ev.Values = map[string]float64{}
	}
	if c.window <= 0 {
		ev.Values["count"] = 1
		return []stream.Event{ev}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []stream.Event
	if s, ok := c.slots[key]; ok {
		if now.Sub(s.start) < c.window {
			s.n++
			s.last = ev
			return nil
		}
		if s.n > 0 {
			out = append(out, summary(s))
		}
	}
	c.slots[key] = &slot{start: now}
	ev.Values["count"] = 1
	return append(out, ev)
}

// Flush closes the windows that ended by now and returns their summaries, oldest window first.
func (c *Collapser) Flush(now time.Time) []stream.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var done []*slot
	for k, s := range c.slots {
		if now.Sub(s.start) >= c.window {
			if s.n > 0 {
				done = append(done, s)
			}
			delete(c.slots, k)
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].start.Before(done[j].start) })
	out := make([]stream.Event, len(done))
	for i, s := range done {
		out[i] = summary(s)
	}
	return out
}

func summary(s *slot) stream.Event {
	ev := s.last
	ev.Values["count"] = float64(s.n)
	ev.Attrs["collapsed"] = "true"
	return ev
}

// Close ends key's window now and returns its summary, if repeats were held (call it before emitting
// an event that ends what key describes, so the summary comes first).
func (c *Collapser) Close(key string) []stream.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.slots[key]
	if !ok {
		return nil
	}
	delete(c.slots, key)
	if s.n == 0 {
		return nil
	}
	return []stream.Event{summary(s)}
}
