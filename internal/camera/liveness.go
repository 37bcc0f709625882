package camera

import (
	"context"
	"fmt"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// Liveness values carried in Attrs["liveness"] of the events a Liveness emits.
const (
	LivenessOffline = "offline"
	LivenessOnline  = "online"
)

// Liveness watches the registered cameras and emits one camera event when a camera has not been heard
// for After (Attrs liveness=offline) and one when it is heard again (liveness=online), so the map and
// the alarm rules see which cameras are alive. It checks every Every.
type Liveness struct {
	Cams   *Registry
	After  time.Duration
	Every  time.Duration
	Source string // the events' Source
}

var _ stream.Collector = (*Liveness)(nil)

// Validate reports bad settings.
func (l *Liveness) Validate() error {
	if l.Cams == nil || l.After <= 0 || l.Every <= 0 {
		return fmt.Errorf("camera liveness: registry, offline_after and check_every are required")
	}
	return nil
}

// Run checks until ctx ends. A failed emit is retried at the next check (the state changes only once
// the event was taken), so no transition is lost.
func (l *Liveness) Run(ctx context.Context, emit stream.Emit) error {
	if err := l.Validate(); err != nil {
		return err
	}
	t := time.NewTicker(l.Every)
	defer t.Stop()
	offline := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if evs := l.Check(offline); len(evs) > 0 {
			if err := emit(ctx, stream.Batch{Events: evs}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				continue
			}
			for _, ev := range evs {
				offline[ev.Entity] = ev.Attrs["liveness"] == LivenessOffline
			}
		}
		for id := range offline { // removed cameras are forgotten
			if _, ok := l.Cams.LastHeard(id); !ok {
				delete(offline, id)
			}
		}
	}
}

// Check compares the registry with the known offline set and returns the transition events, without
// changing offline.
func (l *Liveness) Check(offline map[string]bool) []stream.Event {
	now := l.Cams.now()
	off := map[string]bool{}
	for _, id := range l.Cams.Offline(now, l.After) {
		off[id] = true
	}
	var out []stream.Event
	for _, c := range l.Cams.Cameras() {
		if off[c.ID] == offline[c.ID] {
			continue
		}
		state := LivenessOnline
		if off[c.ID] {
			state = LivenessOffline
		}
		ev := stream.Event{Entity: c.ID, Kind: "camera", Type: stream.TypeCamera, Source: l.Source, Time: now,
			Location: c.Location, HasLocation: true, Attrs: map[string]string{"liveness": state, "camera_name": c.Name}}
		if heard, ok := l.Cams.LastHeard(c.ID); ok && !heard.IsZero() {
			ev.Attrs["last_heard"] = heard.In(vietnam).Format(time.RFC3339)
		}
		out = append(out, ev)
	}
	return out
}
