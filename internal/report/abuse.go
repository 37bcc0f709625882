package report

import (
	"container/list"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per key (client IP or device ID) in a bounded map: when full, the least
// recently seen key is evicted (it starts again with a full bucket, which only ever favours a client
// that has been quiet longest).
type limiter struct {
	every time.Duration
	burst int
	max   int

	mu    sync.Mutex // guards lru and items
	lru   *list.List // of *bucket, most recent at the front
	items map[string]*list.Element
}

type bucket struct {
	key string
	lim *rate.Limiter
}

func newLimiter(c RateConfig, max int) *limiter {
	return &limiter{every: c.Every, burst: c.Burst, max: max, lru: list.New(), items: map[string]*list.Element{}}
}

// allow takes one token for key at now, reporting whether there was one.
func (l *limiter) allow(key string, now time.Time) bool {
	return l.get(key).AllowN(now, 1)
}

// spent reports whether key's bucket has no token left at now (without taking one).
func (l *limiter) spent(key string, now time.Time) bool {
	return l.get(key).TokensAt(now) < 1
}

func (l *limiter) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	if l.lru.Len() >= l.max {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.items, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
	l.items[key] = l.lru.PushFront(b)
	return b.lim
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// Bot check errors.
var (
	ErrFormToken = errors.New("form token missing, forged or expired")
	ErrTooFast   = errors.New("form submitted too fast")
	ErrHoneypot  = errors.New("honeypot field filled")
)

// FormToken returns a token the web page puts in its form: the issue time signed with the server's
// secret (HMAC-SHA256), base64url. No state is kept.
func FormToken(secret []byte, now time.Time) string {
	var b [8 + 32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	mac := hmac.New(sha256.New, secret)
	mac.Write(b[:8])
	copy(b[8:], mac.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CheckForm verifies a form token at now: signed by secret, at least minFill old (humans take time
// to fill a form; scripts post at once) and at most maxAge old.
func CheckForm(secret []byte, token string, now time.Time, minFill, maxAge time.Duration) error {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 40 {
		return ErrFormToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(raw[:8])
	if !hmac.Equal(mac.Sum(nil), raw[8:]) {
		return ErrFormToken
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(raw[:8])))
	age := now.Sub(issued)
	switch {
	case age < minFill:
		return fmt.Errorf("%w: %s < %s", ErrTooFast, age.Round(time.Millisecond), minFill)
	case age > maxAge:
		return fmt.Errorf("%w: issued %s ago", ErrFormToken, age.Round(time.Second))
	}
	return nil
}
