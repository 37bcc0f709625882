package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countChecks wraps the service's password check, counting calls and the most running at once.
type countChecks struct {
	calls, running, peak atomic.Int64
}

func (c *countChecks) wrap(check func(hash, pw string) (bool, error)) func(hash, pw string) (bool, error) {
	return func(hash, pw string) (bool, error) {
		c.calls.Add(1)
		n := c.running.Add(1)
		defer c.running.Add(-1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
		return check(hash, pw)
	}
}

func TestParallelGuessesAreCountedBeforeTheCheck(t *testing.T) {
	h := newHarness(t, nil) // login_failures 5
	var cc countChecks
	h.svc.verify.check = cc.wrap(h.svc.verify.check)
	const guesses = 100
	codes := make(chan int, guesses)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range guesses {
		wg.Go(func() {
			<-start
			_, resp := h.login("admin", fmt.Sprintf("đoán-mật-khẩu-%03d", i), nil)
			codes <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	limit := h.svc.cfg.LoginFailures
	if count[http.StatusUnauthorized] != limit || count[http.StatusTooManyRequests] != guesses-limit || cc.calls.Load() != int64(limit) {
		t.Errorf("%d parallel wrong guesses: statuses %v, %d passwords checked; want %d × 401 (checked) and the rest 429",
			guesses, count, cc.calls.Load(), limit)
	}
	// The owner, from another address, signs in at once.
	if _, _, err := h.svc.Login(context.Background(), "admin", adminPassword, "10.0.0.7"); err != nil {
		t.Errorf("admin from another address after the guessing: %v", err)
	}
}

func TestGuessingFromOneAddressDoesNotLockTheOwnerOut(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	login := func(pw, ip string) error {
		_, _, err := h.svc.Login(ctx, "admin", pw, ip)
		return err
	}
	// A wrong guess from the attacker every 15 minutes for 8 hours (its waits reach
	// login_backoff_max), then the admin signs in from their desk right after the latest guess.
	for i := range 33 {
		h.clock.Add(15 * time.Minute)
		if err := login(fmt.Sprintf("đoán-%03d-sai-rồi", i), "10.9.9.9"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("attacker's guess %d, 15 minutes after the one before: %v", i+1, err)
		}
	}
	if err := login(adminPassword, "10.0.0.7"); err != nil {
		t.Errorf("admin from their own address after 8 hours of guessing elsewhere: %v", err)
	}
	var be *BackoffError
	if err := login(adminPassword, "10.9.9.9"); !errors.As(err, &be) || be.Wait != h.svc.cfg.LoginBackoffMax {
		t.Errorf("the attacker's address with the right password: %v, want a backoff of login_backoff_max", err)
	}

	// IPv6 counts by /64: another address of the attacker's block is backed off too, the next block not.
	for i := range 5 {
		if err := login(fmt.Sprintf("sai-v6-%d-mật-khẩu", i), "2001:db8:1:2::a"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("v6 guess %d: %v", i+1, err)
		}
	}
	if err := login(adminPassword, "2001:db8:1:2:ffff::b"); !errors.As(err, &be) {
		t.Errorf("same /64 as the guesses: %v, want a backoff", err)
	}
	if err := login(adminPassword, "2001:db8:1:3::1"); err != nil {
		t.Errorf("another /64: %v", err)
	}
}

func TestAddressKey(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ipv4", "10.0.0.7", "10.0.0.7"},
		{"ipv4 mapped", "::ffff:10.0.0.7", "10.0.0.7"},
		{"ipv6 by /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"ipv6 with zone", "fe80::1%eth0", "fe80::/64"},
		{"not an address", "unix-socket", "unix-socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := addressKey(tc.in); got != tc.want {
				t.Errorf("addressKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPasswordChecksRunThroughABoundedPool(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *GuardOptions) { c.LoginConcurrency, c.LoginQueue = 3, 10 })
	release := make(chan struct{})
	var cc countChecks
	h.svc.verify.check = cc.wrap(func(string, string) (bool, error) { <-release; return false, nil })
	const tries = 100
	errs := make(chan error, tries)
	var wg sync.WaitGroup
	for i := range tries { // every guess from its own address: the backoff lets each through
		wg.Go(func() {
			_, _, err := h.svc.Login(context.Background(), "admin", "một-mật-khẩu-sai", fmt.Sprintf("10.1.%d.%d", i/250, i%250))
			errs <- err
		})
	}
	// 3 checks run, 10 wait, the other 87 are refused at once.
	var busy int
	deadline := time.Now().Add(30 * time.Second)
	for busy < tries-13 && time.Now().Before(deadline) {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("while the pool is full: %v, want ErrBusy", err)
			}
			busy++
		case <-time.After(time.Until(deadline)):
		}
	}
	for time.Now().Before(deadline) && (cc.running.Load() != 3 || h.svc.verify.waiting.Load() != 10) {
		runtime.Gosched()
	}
	if busy != tries-13 || cc.running.Load() != 3 || h.svc.verify.waiting.Load() != 10 {
		t.Fatalf("busy %d, running %d, waiting %d; want 87, 3, 10", busy, cc.running.Load(), h.svc.verify.waiting.Load())
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrBadLogin) {
			t.Errorf("a queued sign-in ended with %v, want ErrBadLogin", err)
		}
	}
	if cc.calls.Load() != 13 || cc.peak.Load() != 3 {
		t.Errorf("%d checks, at most %d at once; want 13 and 3", cc.calls.Load(), cc.peak.Load())
	}
	// Only the 13 checked attempts count as failures; the refused ones were no guess.
	counted := 0
	h.svc.backoff.mu.Lock()
	for k, f := range h.svc.backoff.keys {
		if strings.HasPrefix(k, "ip:") && f.n > 0 {
			counted++
		}
	}
	h.svc.backoff.mu.Unlock()
	if counted != 13 {
		t.Errorf("%d addresses have a failure counted, want the 13 checked", counted)
	}

	// Over HTTP a refused sign-in is 503 with Retry-After.
	h.svc.verify.check = func(string, string) (bool, error) { return false, nil }
	for range 3 {
		h.svc.verify.slots <- struct{}{}
	}
	h.svc.verify.queue = 0
	resp, raw := h.do("POST", "/api/v1/auth/login", `{"user":"admin","password":"`+adminPassword+`"}`, nil)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &body); err != nil || resp.StatusCode != http.StatusServiceUnavailable ||
		resp.Header.Get("Retry-After") == "" || body.Error.Code != "login_busy" {
		t.Errorf("sign-in with the pool full: %d (Retry-After %q) %s, want 503", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
}

// TestPasswordCheckMemoryIsBounded sends 100 wrong passwords at once from 100 addresses with the real
// argon2id (19 MiB each): with the default pool of 4 the heap stays far below what 100 at once take.
func TestPasswordCheckMemoryIsBounded(t *testing.T) {
	h := newHarness(t, nil)
	var cc countChecks
	h.svc.verify.check = cc.wrap(h.svc.verify.check)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			runtime.Gosched()
		}
	}()
	const tries = 100
	var wg sync.WaitGroup
	var bad, busy atomic.Int64
	for i := range tries {
		wg.Go(func() {
			_, _, err := h.svc.Login(context.Background(), "admin", "một-mật-khẩu-sai", fmt.Sprintf("10.2.0.%d", i))
			switch {
			case errors.Is(err, ErrBadLogin):
				bad.Add(1)
			case errors.Is(err, ErrBusy):
				busy.Add(1)
			default:
				t.Errorf("guess %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	grew := (peak.Load() - min(base, peak.Load())) >> 20
	t.Logf("%d checks (%d busy), at most %d at once, heap grew by %d MiB at its peak", cc.calls.Load(), busy.Load(), cc.peak.Load(), grew)
	limit := uint64(h.svc.cfg.LoginConcurrency) * 19 * 4 // GC lets garbage reach about the live heap again; room for that twice
	if cc.peak.Load() > int64(h.svc.cfg.LoginConcurrency) || grew > limit || bad.Load() != cc.calls.Load() {
		t.Errorf("%d checks (%d answered wrong), %d at once, heap +%d MiB; want at most %d at once and +%d MiB",
			cc.calls.Load(), bad.Load(), cc.peak.Load(), grew, h.svc.cfg.LoginConcurrency, limit)
	}
}

func TestBackoffKeysAreBounded(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("tên-rất-dài", 1000)
	if _, _, err := h.svc.Login(context.Background(), long, "một-mật-khẩu-sai", "2001:db8::1"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("sign-in with a %d-byte name: %v", len(long), err)
	}
	h.svc.backoff.mu.Lock()
	defer h.svc.backoff.mu.Unlock()
	if len(h.svc.backoff.keys) != 2 {
		t.Errorf("backoff keys %d, want 2", len(h.svc.backoff.keys))
	}
	for k := range h.svc.backoff.keys {
		if len(k) > 128 {
			t.Errorf("a backoff key of %d bytes", len(k))
		}
	}
}
