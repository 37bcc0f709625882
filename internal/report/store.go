package report

import (
	"context"
	"errors"
	"time"

	"github.com/paulmach/orb"
)

// Store errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("concurrent update") // the report changed since it was read
)

// Query selects reports for listing, newest first. Zero fields match everything.
type Query struct {
	IDs      []int64
	Services []string
	Statuses []Status
	Areas    []string // area codes (district or commune): a report with any of them matches
	Unit     string
	Box      *orb.Bound // location within this [lon, lat] box
	From, To time.Time  // created in [From, To)
	Offset   int
	Limit    int // 0: no limit
}

// APIKey is an Open311 client application's key. Only a hash of the secret is stored.
type APIKey struct {
	ID      string     `json:"id"`
	Client  string     `json:"client"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Store keeps reports, their history and Open311 API keys. Implementations are safe for concurrent
// use, and a method that writes returns only after the write is durably committed.
type Store interface {
	// Create inserts r (ID and Version are assigned) with its first history entry. When idemKey is
	// not empty and a report with that key exists, Create stores nothing and returns the existing
	// report with created == false, also when the two calls race. A taken tracking code returns
	// ErrCodeTaken so the caller can draw another.
	Create(ctx context.Context, r Report, idemKey string, first Entry) (out Report, created bool, err error)
	// Get returns one report or ErrNotFound.
	Get(ctx context.Context, id int64) (Report, error)
	// ByCode returns the report with a tracking code or ErrNotFound.
	ByCode(ctx context.Context, code string) (Report, error)
	// ByPhoto returns the report a photo ID belongs to or ErrNotFound (a photo of no report).
	ByPhoto(ctx context.Context, photoID string) (Report, error)
	// Update stores r if its stored version is still r.Version (then increments it) and appends e;
	// otherwise it returns ErrConflict.
	Update(ctx context.Context, r Report, e Entry) (Report, error)
	// History returns a report's entries, oldest first.
	History(ctx context.Context, id int64) ([]Entry, error)
	// List returns the reports matching q, newest first.
	List(ctx context.Context, q Query) ([]Report, error)
	// Escalations returns the reports whose next escalation step is due at now, earliest first.
	Escalations(ctx context.Context, now time.Time, limit int) ([]Report, error)

	// AddKey stores an API key with the SHA-256 hash of its secret.
	AddKey(ctx context.Context, k APIKey, hash string) error
	// KeyByHash returns the live (not revoked) key with this hash or ErrNotFound.
	KeyByHash(ctx context.Context, hash string) (APIKey, error)
	// Keys lists all keys.
	Keys(ctx context.Context) ([]APIKey, error)
	// RevokeKey marks a key revoked at t, or returns ErrNotFound.
	RevokeKey(ctx context.Context, id string, t time.Time) error

	// Close releases the database.
	Close() error
}

// ErrCodeTaken is returned by Store.Create when the tracking code is already in use.
var ErrCodeTaken = errors.New("tracking code taken")
