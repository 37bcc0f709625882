// Package reporttest holds test doubles for the report component: a settable clock and a fake
// Locate that places points in Bến Tre districts by longitude bands.
package reporttest

import (
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Locate is a fake geo enrichment: west of 106.35°E is Châu Thành (831), 106.35..106.42 is
// Thành phố Bến Tre (829), east of it Giồng Trôm (834); all in province 83, which ends at
// 105.5–107°E, 9.5–10.6°N (outside: no areas).
func Locate(lon, lat float64) map[string]string {
	if lon < 105.5 || lon > 107 || lat < 9.5 || lat > 10.6 {
		return nil
	}
	d := "834"
	switch {
	case lon < 106.35:
		d = "831"
	case lon < 106.42:
		d = "829"
	}
	return map[string]string{"province": "83", "district": d}
}
