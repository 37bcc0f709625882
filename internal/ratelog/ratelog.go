// Package ratelog limits repeated log lines: one line per key per interval, so a flood of bad input
// is counted by metrics but logged only now and then.
package ratelog

import (
	"sync"
	"time"
)

// Limiter allows one event per key per interval. It remembers at most maxKeys keys.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

const maxKeys = 1024

// New returns a limiter allowing one event per key every interval.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, now: time.Now, last: map[string]time.Time{}}
}

// Allow reports whether an event for key may be logged now, and records it if so.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		return false
	}
	if len(l.last) >= maxKeys {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
