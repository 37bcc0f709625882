package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// DefaultReadyGrace is how long a collector that was receiving may be disconnected before /readyz
// says ioc is not ready, when Config.ReadyGrace is zero.
const DefaultReadyGrace = 30 * time.Second

// health is a collector's connection state for /readyz. A collector receives when it is connected and
// the broker holds its subscriptions: the SUBACK of this connection arrived, or the broker kept the
// durable session (CONNACK session present) from before.
type health struct {
	grace time.Duration
	now   func() time.Time

	mu         sync.Mutex
	gen        uint64    // connection generation: one more at every connection
	connected  bool      // the current connection is up
	session    bool      // the broker said session present for the current connection
	subscribed bool      // the SUBACK of the current connection arrived
	receiving  bool      // connected and subscribed (or session present)
	everRecv   bool      // it has received at some point since Run started
	everSub    bool      // a SUBACK arrived on some connection since Run started
	since      time.Time // when it stopped receiving (or started)
	lastErr    error     // why it is not receiving: the last connect, subscribe or connection error
	cause      error     // a loss reported while still receiving, for down
}

func newHealth(grace time.Duration, now func() time.Time) *health {
	if grace <= 0 {
		grace = DefaultReadyGrace
	}
	return &health{grace: grace, now: now, since: now(), lastErr: errors.New("not connected yet")}
}

// connack records the session-present flag of the connection being opened.
func (h *health) connack(sessionPresent bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.session = sessionPresent
}

// up records a new connection and returns its generation, whether the broker holds the session from
// before, and whether that session holds this run's subscriptions (a SUBACK arrived on an earlier
// connection of this run). durable says whether the session is kept by the broker (clean_session
// false), so that session present means the subscriptions are held.
func (h *health) up(durable bool) (gen uint64, session, held bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.connected, h.subscribed = true, false
	h.session = h.session && durable
	h.update()
	return h.gen, h.session, h.session && h.everSub
}

// suback records the SUBACK of connection gen.
func (h *health) suback(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen == h.gen && h.connected {
		h.subscribed, h.everSub = true, true
		h.update()
	}
}

// fail records why the collector is not receiving (a failed connect or subscribe, a lost connection)
// without changing the connection state; ignored while it receives (a late report of an old
// connection).
func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.receiving {
		h.cause = err // the connection is going down: down gives it as the reason
		return
	}
	h.lastErr = err
}

// down records that the connection is down; err, when not nil, is why (else the cause already
// recorded, or "connection closed").
func (h *health) down(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connected, h.subscribed, h.session = false, false, false
	h.update()
	switch {
	case err != nil:
		h.lastErr = err
	case h.cause != nil:
		h.lastErr = h.cause
	case h.lastErr == nil:
		h.lastErr = errors.New("connection closed")
	}
	h.cause = nil
}

// current reports whether gen is the connection that is up now.
func (h *health) current(gen uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return gen == h.gen && h.connected
}

// update recomputes receiving; h.mu is held.
func (h *health) update() {
	r := h.connected && (h.subscribed || h.session)
	if r == h.receiving {
		return
	}
	h.receiving = r
	if r {
		h.everRecv, h.lastErr = true, nil
	} else {
		h.since = h.now()
	}
}

// check is nil while receiving; a stream.ErrDegraded error within the grace after the collector
// stopped receiving; a plain error before it first received (at start) or after the grace.
func (h *health) check() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.receiving {
		return nil
	}
	what := "not connected"
	if h.connected {
		what = "connected, waiting for the SUBACK"
	}
	if !h.everRecv {
		return fmt.Errorf("%s since start (%s ago): %w", what, h.now().Sub(h.since).Round(time.Second), h.lastErr)
	}
	err := fmt.Errorf("%s since %s: %w", what, h.since.Format(time.RFC3339), h.lastErr)
	if h.now().Sub(h.since) < h.grace {
		return fmt.Errorf("%w: %w", stream.ErrDegraded, err)
	}
	return err
}

// Check reports whether the collector receives: nil while it is connected and subscribed, degraded
// (stream.ErrDegraded) while it reconnects within its ready grace, an error before its first
// subscription and once the grace has passed.
func (c *Collector) Check(context.Context) error {
	if err := c.h.check(); err != nil {
		return fmt.Errorf("mqtt collector %s: %w", c.cfg.Name, err)
	}
	return nil
}
