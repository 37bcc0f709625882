// Package report handles citizen field reports (phản ánh hiện trường): a service catalogue, intake
// over Open311 GeoReport v2 and a native JSON API, photo handling, the triage → assign → resolve
// workflow with SLA and escalation, KPIs for leaders, and storage on SQLite or PostgreSQL.
//
// Contact data (name, phone, email, device and account IDs) is private: it is kept in Report.Contact
// and only ever rendered by operator routes; every public view is built from Public.
package report

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/paulmach/orb"
)

// Status is a report's workflow state.
type Status string

// Workflow states.
const (
	StatusNew        Status = "new"
	StatusTriaged    Status = "triaged"
	StatusAssigned   Status = "assigned"
	StatusInProgress Status = "in_progress"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
	StatusDuplicate  Status = "duplicate"
	StatusRejected   Status = "rejected"
	StatusReopened   Status = "reopened"
)

// Statuses lists every state.
var Statuses = []Status{StatusNew, StatusTriaged, StatusAssigned, StatusInProgress, StatusResolved,
	StatusClosed, StatusDuplicate, StatusRejected, StatusReopened}

// transitions says which states an operator may move a report to from each state. Reopening is the
// citizen's move and is checked separately (Reopen).
var transitions = map[Status][]Status{
	StatusNew:        {StatusTriaged, StatusDuplicate, StatusRejected},
	StatusTriaged:    {StatusAssigned, StatusDuplicate, StatusRejected},
	StatusAssigned:   {StatusAssigned, StatusInProgress, StatusResolved, StatusRejected},
	StatusInProgress: {StatusAssigned, StatusResolved},
	StatusResolved:   {StatusClosed, StatusReopened},
	StatusReopened:   {StatusTriaged, StatusAssigned, StatusInProgress},
	StatusClosed:     {StatusReopened},
	StatusDuplicate:  {},
	StatusRejected:   {},
}

// Open reports whether the report still needs work (Open311 status "open").
func (s Status) Open() bool {
	switch s {
	case StatusResolved, StatusClosed, StatusDuplicate, StatusRejected:
		return false
	}
	return true
}

// Valid reports whether s is a known state.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Open311 maps the workflow state onto Open311's open/closed.
func (s Status) Open311() string {
	if s.Open() {
		return "open"
	}
	return "closed"
}

// Public reports whether a report in this state may appear on the public map: only after an operator
// has looked at it, and not when it was rejected.
func (s Status) Public() bool {
	return s != StatusNew && s != StatusRejected
}

// CanMove reports whether an operator may move a report from s to to, and why not.
func (s Status) CanMove(to Status) error {
	if !to.Valid() {
		return fmt.Errorf("trạng thái không hợp lệ / unknown status %q", to)
	}
	if slices.Contains(transitions[s], to) {
		return nil
	}
	allowed := make([]string, 0, len(transitions[s]))
	for _, t := range transitions[s] {
		allowed = append(allowed, string(t))
	}
	return fmt.Errorf("không thể chuyển từ %s sang %s / cannot move from %s to %s (allowed: %s)",
		s, to, s, to, strings.Join(allowed, ", "))
}

// Contact is the reporter's private contact data. It never appears in a public response or event.
type Contact struct {
	// Name is the full name as written, family name first: "Trần Thị B" (family Trần, given Thị B).
	Name      string `json:"name,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Email     string `json:"email,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	IP        string `json:"ip,omitempty"`
	// Share says the reporter allowed the units handling the report to see who they are; without
	// it only the intake role does (Deps.SeesContact) and units see "ẩn danh".
	Share bool `json:"share,omitempty"`
}

// Anonymous is what a unit sees of a reporter who did not allow sharing.
const Anonymous = "ẩn danh / anonymous"

// FullName joins Open311's first_name (the given name, with any middle name) and last_name (the
// family name) the Vietnamese way, family name first: ("Thị B", "Trần") → "Trần Thị B".
func FullName(first, last string) string {
	return strings.Join(strings.Fields(strings.TrimSpace(last)+" "+strings.TrimSpace(first)), " ")
}

// SplitName is FullName's inverse for a Vietnamese full name: the first word is the family name
// (Open311 last_name), the rest the given name (first_name): "Trần Thị B" → ("Thị B", "Trần"). A
// one-word name is a given name.
func SplitName(full string) (first, last string) {
	w := strings.Fields(full)
	switch len(w) {
	case 0:
		return "", ""
	case 1:
		return w[0], ""
	}
	return strings.Join(w[1:], " "), w[0]
}

// Report is one citizen field report. Location is [lon, lat].
type Report struct {
	ID          int64     `json:"id"`
	Code        string    `json:"code"` // tracking code, the citizen's secret handle (BT-7K3Q-9XAB-M4TZ)
	Service     string    `json:"service_code"`
	Status      Status    `json:"status"`
	Description string    `json:"description"`
	Location    orb.Point `json:"location"` // [lon, lat]
	Address     string    `json:"address,omitempty"`
	// LocatedBy says where Location comes from: the reporter's position, or the commune named in
	// an address-only request (an operator should check it).
	LocatedBy   string              `json:"located_by"`
	AddressID   string              `json:"address_id,omitempty"`
	Areas       map[string]string   `json:"areas,omitempty"`
	Attributes  map[string][]string `json:"attributes,omitempty"`
	Photos      []string            `json:"photos,omitempty"` // photo IDs
	MediaURL    string              `json:"media_url,omitempty"`
	Unit        string              `json:"unit,omitempty"` // responsible unit (agency_responsible)
	DuplicateOf int64               `json:"duplicate_of,omitempty"`
	Client      string              `json:"client"` // "web" or the Open311 API key's client name
	Contact     Contact             `json:"contact"`
	Created     time.Time           `json:"created"`
	Updated     time.Time           `json:"updated"`
	Severity    string              `json:"severity"`    // class code (Config.Severities)
	ReceiveDue  time.Time           `json:"receive_due"` // deadline to receive (leave "new"), in working time
	Due         time.Time           `json:"due"`         // deadline to resolve, in working time (the SLA)
	RespondDue  time.Time           `json:"respond_due"` // deadline to publish the result (close), in working time
	Received    time.Time           `json:"received,omitzero"`
	Resolved    time.Time           `json:"resolved,omitzero"`
	// Result is the outcome text the operator published on resolving (the public note of the move
	// to resolved): the only result text citizens see.
	Result    string    `json:"result,omitempty"`
	Rating    string    `json:"rating,omitempty"` // the citizen's rating of this resolution (RatingSatisfied …)
	Rated     time.Time `json:"rated,omitzero"`
	Escalated time.Time `json:"escalated,omitzero"` // first passed a deadline
	// EscalationLevel is the last escalation step taken (StepUnit …) for the deadline
	// EscalationFor; NextEscalation is when the next step is due (zero: none).
	EscalationLevel int       `json:"escalation_level"`
	EscalationFor   time.Time `json:"escalation_for,omitzero"`
	NextEscalation  time.Time `json:"next_escalation,omitzero"`
	Version         int       `json:"version"`
}

// Where a report's location comes from.
const (
	LocatedByGPS     = "gps"
	LocatedByAddress = "address" // placed in the commune its address names: to be checked
)

// Overdue reports whether the report is open past its due time at now, or still not received past
// its receive deadline.
func (r *Report) Overdue(now time.Time) bool {
	if !r.Status.Open() {
		return false
	}
	late := func(t time.Time) bool { return !t.IsZero() && now.After(t) }
	return late(r.Due) || (r.Status == StatusNew && late(r.ReceiveDue))
}

// Entry is one line of a report's history: a transition with who, when and why.
type Entry struct {
	ReportID int64     `json:"-"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	From     Status    `json:"from,omitempty"`
	To       Status    `json:"to"`
	Note     string    `json:"note,omitempty"`
	Unit     string    `json:"unit,omitempty"`
	// Public says the note may be shown to citizens (the tracking page, Open311 status_notes): only
	// an operator's note they chose to publish, and the fixed "received" text. A citizen's reopen
	// note and every other note are internal.
	Public bool `json:"public"`
}

// codeAlphabet has no 0/O, 1/I/L or U: a tracking code read over the phone is unambiguous.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// codeLen is the number of random characters in a tracking code: 30^12 ≈ 5·10^17 codes (58.9 bits),
// written in groups of four (BT-7K3Q-9XAB-M4TZ). Codes issued before had 6 (BT-7K3Q9X, 29 bits);
// they keep working.
const codeLen = 12

var trackCodeRE = regexp.MustCompile(`^[A-Z]{1,4}-(?:[` + codeAlphabet + `]{6}|[` + codeAlphabet + `]{4}-[` + codeAlphabet + `]{4}-[` + codeAlphabet + `]{4})$`)

// NewCode returns a fresh tracking code like BT-7K3Q-9XAB-M4TZ.
func NewCode(prefix string) string {
	out := make([]byte, 0, len(prefix)+1+codeLen+codeLen/4-1)
	out = append(out, prefix...)
	var b [1]byte
	for i := 0; i < codeLen; {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		if b[0] >= 240 {       // 240 = 8·30: reject to keep the choice uniform
			continue
		}
		if i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[int(b[0])%len(codeAlphabet)])
		i++
	}
	return string(out)
}

// NormalizeCode turns a typed tracking code into its stored form: upper case, spaces dropped and
// the hyphens put back where they belong (bt 7k3q9xabm4tz → BT-7K3Q-9XAB-M4TZ; old codes
// BT-7K3Q9X). Anything else comes back upper-cased without spaces.
func NormalizeCode(s string) string {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	bare := strings.ReplaceAll(s, "-", "")
	switch n := len(bare); {
	case n > codeLen && n <= codeLen+4:
		p := n - codeLen
		return bare[:p] + "-" + bare[p:p+4] + "-" + bare[p+4:p+8] + "-" + bare[p+8:]
	case n > 6 && n <= 6+4:
		return bare[:n-6] + "-" + bare[n-6:]
	}
	return s
}

// ValidCode reports whether code (normalized) has the shape of a tracking code, new or old.
func ValidCode(code string) bool { return trackCodeRE.MatchString(code) }
