// Package cameratest holds test doubles shared by the camera collectors' tests.
package cameratest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// Recorder is a stream.Emit that records every batch's events and calls Done at once, as a pipeline
// whose sinks stored everything would.
type Recorder struct {
	mu      sync.Mutex
	events  []stream.Event
	batches int
	got     chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{got: make(chan struct{}, 1)} }

// Emit records b and acknowledges it.
func (r *Recorder) Emit(_ context.Context, b stream.Batch) error {
	r.mu.Lock()
	r.events = append(r.events, b.Events...)
	r.batches++
	r.mu.Unlock()
	if b.Done != nil {
		b.Done()
	}
	select {
	case r.got <- struct{}{}:
	default:
	}
	return nil
}

// Events returns a copy of everything recorded so far.
func (r *Recorder) Events() []stream.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Event(nil), r.events...)
}

// Take returns everything recorded so far and forgets it.
func (r *Recorder) Take() []stream.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// Wait returns the recorded events once there are at least n, failing t after timeout.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []stream.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if evs := r.Events(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %d events, got %d", timeout, n, len(r.Events()))
		}
	}
}

// Signal returns a channel that receives (coalesced) after each recorded batch.
func (r *Recorder) Signal() <-chan struct{} { return r.got }
