package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// backoff counts failed sign-ins per key and says how long the next attempt must wait. An attempt
// reserves its place before its password is checked (reserve counts it as a failure of every key at
// once, under the lock) and a right password gives it back (succeed), so parallel guesses see each
// other: of any number sent at once, at most `after` are checked.
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

// reserve claims an attempt for keys at now: when none of them is backing off it counts the attempt
// as a failure of each and returns 0; otherwise it changes nothing and returns the longest wait.
func (b *backoff) reserve(now time.Time, keys ...string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	var w time.Duration
	for _, k := range keys {
		if f := b.keys[k]; f != nil {
			w = max(w, f.last.Add(b.delay(f.n)).Sub(now))
		}
	}
	if w > 0 {
		return w
	}
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
	return 0
}

// succeed settles a reservation whose password was right (or was never checked): the keys in reset are
// forgotten, those in refund get their attempt back.
func (b *backoff) succeed(reset, refund []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range reset {
		delete(b.keys, k)
	}
	for _, k := range refund {
		if f := b.keys[k]; f != nil && f.n > 0 {
			f.n--
		}
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

// addressKey is the part of a client address that backoff counts by: an IPv4 address as it is, an
// IPv6 address by its /64 (one host's, or one customer's, whole block), anything else as given.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// ErrBusy says every password check slot is taken and too many sign-ins already wait for one.
var ErrBusy = errors.New("too many sign-ins at once")

// verifier runs password checks through a bounded pool: argon2id takes 19 MiB and tens of
// milliseconds of a core per check, so at most cap(slots) run at once and at most queue more wait
// for a slot (each with its request's context); past that a check is refused with ErrBusy.
type verifier struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	check   func(hash, pw string) (bool, error) // VerifyPassword; tests swap it
}

func newVerifier(concurrency, queue int) *verifier {
	return &verifier{slots: make(chan struct{}, concurrency), queue: int64(queue), check: VerifyPassword}
}

// verify checks pw against hash once a slot is free.
func (v *verifier) verify(ctx context.Context, hash, pw string) (bool, error) {
	if err := v.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-v.slots }()
	return v.check(hash, pw)
}

// acquire takes a slot, waiting for one when the queue has room.
func (v *verifier) acquire(ctx context.Context) error {
	select {
	case v.slots <- struct{}{}:
		return nil
	default:
	}
	if v.waiting.Add(1) > v.queue {
		v.waiting.Add(-1)
		return ErrBusy
	}
	defer v.waiting.Add(-1)
	select {
	case v.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for a password check: %w", ctx.Err())
	}
}
