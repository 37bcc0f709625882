package alarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paulmach/orb"
)

// Alarm states.
const (
	StateActiveUnack  = "active_unack"  // raised, nobody acknowledged it yet
	StateActiveAck    = "active_ack"    // raised and acknowledged
	StateClearedUnack = "cleared_unack" // cleared (by the condition or an operator) before anyone acknowledged it
	StateClearedAck   = "cleared_ack"   // cleared and acknowledged: closed
)

// Actions recorded in an alarm's history.
const (
	ActionRaise    = "raise"    // opened by a rule
	ActionAck      = "ack"      // acknowledged by an operator
	ActionClear    = "clear"    // cleared by an operator or (actor "system") by the condition
	ActionAssign   = "assign"   // assigned to someone
	ActionComment  = "comment"  // a note
	ActionEscalate = "escalate" // unacknowledged too long: severity bumped one step
	ActionUpgrade  = "upgrade"  // the condition got worse (a higher water alert level)
)

// SystemActor is the actor of actions the engine takes by itself.
const SystemActor = "system"

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("alarm not found")
	ErrConflict = errors.New("alarm state conflict")
)

// StateError says why an action is not allowed in the alarm's state. It matches ErrConflict.
type StateError struct {
	Action string
	State  string
	Reason string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%s không được phép ở trạng thái %s / %s not allowed in state %s: %s", e.Action, e.State, e.Action, e.State, e.Reason)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *StateError) Is(target error) bool { return target == ErrConflict }

// next returns the state an action moves an alarm to, or a *StateError.
//
//	ack:     active_unack → active_ack,   cleared_unack → cleared_ack
//	clear:   active_unack → cleared_unack, active_ack    → cleared_ack
//	assign:  only while active
//	comment: any state
func next(state, action string) (string, error) {
	switch action {
	case ActionAck:
		switch state {
		case StateActiveUnack:
			return StateActiveAck, nil
		case StateClearedUnack:
			return StateClearedAck, nil
		}
		return "", &StateError{action, state, "already acknowledged"}
	case ActionClear:
		switch state {
		case StateActiveUnack:
			return StateClearedUnack, nil
		case StateActiveAck:
			return StateClearedAck, nil
		}
		return "", &StateError{action, state, "already cleared"}
	case ActionAssign, ActionEscalate, ActionUpgrade:
		if isActive(state) {
			return state, nil
		}
		return "", &StateError{action, state, "already cleared"}
	case ActionComment:
		return state, nil
	}
	return "", fmt.Errorf("unknown action %q", action)
}

func isActive(state string) bool { return state == StateActiveUnack || state == StateActiveAck }

// Alarm is one alarm: a rule's condition on one source. Location is [lon, lat].
type Alarm struct {
	ID           string            `json:"id"`
	Rule         string            `json:"rule"`
	Name         string            `json:"name,omitempty"`
	Source       string            `json:"source"`
	SourceKind   string            `json:"source_kind,omitempty"`
	Severity     string            `json:"severity"`
	State        string            `json:"state"`
	Assignee     string            `json:"assignee,omitempty"`
	Field        string            `json:"field,omitempty"`
	Value        float64           `json:"value"`
	Location     *orb.Point        `json:"location,omitempty"`
	Areas        map[string]string `json:"areas,omitempty"`
	RaisedAt     time.Time         `json:"raised_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	AckedAt      *time.Time        `json:"acked_at,omitempty"`
	ClearedAt    *time.Time        `json:"cleared_at,omitempty"`
	EscalateAt   *time.Time        `json:"escalate_at,omitempty"` // pending escalation, if any
	Escalations  int               `json:"escalations"`
	NotifyStatus string            `json:"notify_status,omitempty"`
	Version      int64             `json:"version"`
}

// Action is one entry of an alarm's history: who did what, when, and the state after it.
type Action struct {
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Kind     string    `json:"action"`
	Note     string    `json:"note,omitempty"`
	Assignee string    `json:"assignee,omitempty"` // for assign
	Severity string    `json:"severity,omitempty"` // for raise, escalate, upgrade
	Value    *float64  `json:"value,omitempty"`    // for upgrade: the reading that made the alarm worse
	State    string    `json:"state"`
}

// Filter states beyond the four alarm states.
const (
	FilterOpen      = "open"      // active_unack or active_ack: the condition still holds
	FilterAttention = "attention" // every alarm an operator still has to handle: open, or cleared but never acknowledged
)

// Filter selects alarms. Empty fields match everything. State is one of the alarm states, FilterOpen or
// FilterAttention.
type Filter struct {
	State    string
	Severity string
	Areas    []string // admin area codes at any level: an alarm in any of them matches
	Rule     string
	Source   string
	From, To time.Time // raised within [From, To)
	Limit    int       // 0: 500
}

// Store keeps alarms, their history and the rules made through the API. Implementations are safe for
// concurrent use, also by several processes sharing one database: Open enforces one open alarm per
// (source, rule) with a unique partial index, and every change is a conditional update on the alarm's
// version, so concurrent actions never lose each other's history.
type Store interface {
	// Open inserts a as a new active_unack alarm unless an alarm for (a.Source, a.Rule) is already open;
	// it returns the open alarm and whether it was created by this call.
	Open(ctx context.Context, a Alarm) (Alarm, bool, error)
	// ClearOpen clears the open alarm of (source, rule) as the system, if there is one.
	ClearOpen(ctx context.Context, rule, source string, at time.Time, note string) (Alarm, bool, error)
	// Act applies an operator action (ack, clear, assign, comment). Unknown id: ErrNotFound; action not
	// allowed in the alarm's state: a *StateError (ErrConflict).
	Act(ctx context.Context, id string, act Action) (Alarm, error)
	// SetSeverity changes an active alarm's severity (escalate or upgrade) if it is still fromSeverity;
	// it reports whether it changed. Escalation also removes the pending escalation.
	SetSeverity(ctx context.Context, id, fromSeverity string, act Action) (Alarm, bool, error)
	// SetNotifyStatus records the outcome of the last notification.
	SetNotifyStatus(ctx context.Context, id, status string) error
	Get(ctx context.Context, id string) (Alarm, error)
	History(ctx context.Context, id string) ([]Action, error)
	List(ctx context.Context, f Filter) ([]Alarm, error)
	// DueEscalations lists unacknowledged active alarms whose escalation time is at or before now.
	DueEscalations(ctx context.Context, now time.Time) ([]Alarm, error)

	// Rules lists the rules created through the API; PutRule creates or replaces one; DeleteRule
	// removes one (ErrNotFound when absent).
	Rules(ctx context.Context) ([]Rule, error)
	PutRule(ctx context.Context, r Rule) error
	DeleteRule(ctx context.Context, id string) error

	Close() error
}
