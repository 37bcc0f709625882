package stream

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Rejection reasons, used as the bounded "reason" label of rejection counters.
const (
	ReasonMalformed    = "malformed"     // not parseable in the expected format
	ReasonWrongType    = "wrong_type"    // a value of the wrong JSON type
	ReasonNotFinite    = "not_finite"    // NaN or ±Inf
	ReasonTimeFuture   = "time_future"   // timestamp too far in the future
	ReasonTimeTooOld   = "time_too_old"  // timestamp before 2000
	ReasonBadLocation  = "bad_location"  // coordinates out of range
	ReasonUnknownTopic = "unknown_topic" // no format configured for the topic
	ReasonTooLarge     = "too_large"     // payload over the size limit
	ReasonNoEntity     = "no_entity"     // no entity ID could be found
	ReasonEmpty        = "empty"         // nothing to record
)

// Rejection is an error that says why an input was refused, with a bounded reason for metrics.
type Rejection struct {
	Reason string
	Detail string
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Detail }

// Reject builds a *Rejection with a formatted detail.
func Reject(reason, format string, args ...any) error {
	return &Rejection{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the rejection reason carried by err, or "other".
func ReasonOf(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return "other"
}

// Epoch is the earliest observation time ioc accepts.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Limits bound what Validate accepts.
type Limits struct {
	MaxFuture time.Duration // how far past now a timestamp may be
}

// Validate checks an event against limits at time now: an entity ID, a time between 2000 and
// now+MaxFuture, finite values, coordinates within ±180/±90.
func Validate(ev *Event, now time.Time, lim Limits) error {
	if ev.Entity == "" {
		return Reject(ReasonNoEntity, "event has no entity id")
	}
	if ev.Time.Before(Epoch) {
		return Reject(ReasonTimeTooOld, "%s: time %s is before 2000", ev.Entity, ev.Time.Format(time.RFC3339))
	}
	if ev.Time.After(now.Add(lim.MaxFuture)) {
		return Reject(ReasonTimeFuture, "%s: time %s is more than %s ahead", ev.Entity, ev.Time.Format(time.RFC3339), lim.MaxFuture)
	}
	for k, v := range ev.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Reject(ReasonNotFinite, "%s: value %q is not a finite number", ev.Entity, k)
		}
	}
	if ev.HasLocation {
		if err := CheckLonLat(ev.Location[0], ev.Location[1]); err != nil {
			return fmt.Errorf("%s: %w", ev.Entity, err)
		}
	}
	return nil
}

// CheckLonLat reports whether lon, lat is a valid WGS84 coordinate.
func CheckLonLat(lon, lat float64) error {
	if math.IsNaN(lon) || math.IsNaN(lat) || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
		return Reject(ReasonBadLocation, "coordinate [%g, %g] is out of range (lon ±180, lat ±90)", lon, lat)
	}
	return nil
}
