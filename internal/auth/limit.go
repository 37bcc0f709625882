package auth

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds the clients tracked by a limiter or the backoff; past it, idle entries are dropped.
const maxKeys = 100000

// Tier is one rate limit: Count requests per Per.
type Tier struct {
	Count int
	Per   time.Duration
}

// ParseLimits reads "count:seconds" tiers separated by commas ("100:1,2000:60"); "" is no limit.
func ParseLimits(s string) ([]Tier, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []Tier
	for _, part := range strings.Split(s, ",") {
		c, p, ok := strings.Cut(strings.TrimSpace(part), ":")
		n, err1 := strconv.Atoi(c)
		sec, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || n < 1 || sec < 1 || sec > 86400 {
			return nil, fmt.Errorf("%q is not count:seconds (like 100:1 or 2000:60)", part)
		}
		out = append(out, Tier{Count: n, Per: time.Duration(sec) * time.Second})
	}
	return out, nil
}

// Limiter applies rate-limit tiers per key (a client address or a token). Each tier is a token
// bucket refilled at Count/Per with a burst of Count.
type Limiter struct {
	tiers []Tier
	mu    sync.Mutex
	keys  map[string]*keyLimit
}

type keyLimit struct {
	lims []*rate.Limiter
	seen time.Time
}

// NewLimiter builds a limiter; nil tiers allow everything.
func NewLimiter(tiers []Tier) *Limiter {
	return &Limiter{tiers: tiers, keys: map[string]*keyLimit{}}
}

// Allow reports whether key may make a request now; when not, it says how long to wait.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || len(l.tiers) == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if k == nil {
		if len(l.keys) >= maxKeys {
			l.pruneLocked(now)
		}
		k = &keyLimit{}
		for _, t := range l.tiers {
			k.lims = append(k.lims, rate.NewLimiter(rate.Limit(float64(t.Count)/t.Per.Seconds()), t.Count))
		}
		l.keys[key] = k
	}
	k.seen = now
	// Reserve from every tier; if any refuses, give back what was taken.
	rs := make([]*rate.Reservation, 0, len(k.lims))
	var wait time.Duration
	for _, lim := range k.lims {
		r := lim.ReserveN(now, 1)
		rs = append(rs, r)
		if d := r.DelayFrom(now); d > wait {
			wait = d
		}
	}
	if wait > 0 {
		for _, r := range rs {
			r.CancelAt(now)
		}
		return false, wait
	}
	return true, 0
}

// pruneLocked drops keys idle longer than the longest tier (their buckets are full again).
func (l *Limiter) pruneLocked(now time.Time) {
	longest := time.Duration(0)
	for _, t := range l.tiers {
		longest = max(longest, t.Per)
	}
	for k, v := range l.keys {
		if now.Sub(v.seen) > longest {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxKeys { // everyone is active: start over rather than grow without bound
		clear(l.keys)
	}
}

// backoff counts failed sign-ins per key and says how long the next attempt must wait.
type backoff struct {
	after      int
	first, max time.Duration
	mu         sync.Mutex
	keys       map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newBackoff(after int, first, maxWait time.Duration) *backoff {
	return &backoff{after: after, first: first, max: maxWait, keys: map[string]*failures{}}
}

// delay is the wait after n failures.
func (b *backoff) delay(n int) time.Duration {
	if n < b.after {
		return 0
	}
	d := b.first
	for i := b.after; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// wait is the longest remaining wait of the keys.
func (b *backoff) wait(now time.Time, keys ...string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		if f := b.keys[k]; f != nil {
			if d := f.last.Add(b.delay(f.n)).Sub(now); d > w {
				w = d
			}
		}
	}
	return w
}

func (b *backoff) fail(now time.Time, keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.keys) >= maxKeys {
		b.pruneLocked(now)
	}
	for _, k := range keys {
		f := b.keys[k]
		if f == nil {
			f = &failures{}
			b.keys[k] = f
		}
		f.n++
		f.last = now
	}
}

func (b *backoff) reset(keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		delete(b.keys, k)
	}
}

func (b *backoff) prune(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pruneLocked(now)
}

// pruneLocked forgets keys whose last failure is older than twice the longest wait.
func (b *backoff) pruneLocked(now time.Time) {
	for k, f := range b.keys {
		if now.Sub(f.last) > 2*b.max {
			delete(b.keys, k)
		}
	}
}
