// Package waittest is the one way ioc's tests wait: a condition polled until it holds or a deadline
// passes (STYLE.md, Tests: wait on a signal or a polled condition, never on a bare duration). It is
// imported only by tests.
package waittest

import (
	"testing"
	"time"
)

// poll is how often a condition is checked.
const poll = 10 * time.Millisecond

// Until polls cond until it holds (true) or d has passed (false).
func Until(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); time.Sleep(poll) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// For polls cond until it holds, and fails the test naming what it waited for when d passes first.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(d, cond) {
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}
