package report

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CreateKey issues an Open311 api_key for a client application and returns it with its secret, which
// is shown once and stored only as a SHA-256 hash.
func (s *Service) CreateKey(ctx context.Context, client string) (APIKey, string, error) {
	client = strings.TrimSpace(client)
	if client == "" || len(client) > 100 || !utf8.ValidString(client) {
		return APIKey{}, "", fmt.Errorf("%w: client: 1-100 bytes of UTF-8 required", ErrInvalid)
	}
	var id, secret [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	_, _ = rand.Read(secret[:])
	k := APIKey{ID: hex.EncodeToString(id[:8]), Client: client, Created: s.d.Now().UTC()}
	plain := "o311_" + hex.EncodeToString(secret[:])
	if err := s.d.Store.AddKey(ctx, k, hashKey(plain)); err != nil {
		return APIKey{}, "", err
	}
	return k, plain, nil
}

// Keys lists the issued keys (never their secrets).
func (s *Service) Keys(ctx context.Context) ([]APIKey, error) { return s.d.Store.Keys(ctx) }

// RevokeKey stops a key from working.
func (s *Service) RevokeKey(ctx context.Context, id string) error {
	return s.d.Store.RevokeKey(ctx, id, s.d.Now().UTC())
}

// checkKey returns the live key for a presented secret, or ErrNotFound.
func (s *Service) checkKey(ctx context.Context, plain string) (APIKey, error) {
	if plain == "" || len(plain) > 200 {
		return APIKey{}, ErrNotFound
	}
	return s.d.Store.KeyByHash(ctx, hashKey(plain))
}

func hashKey(plain string) string {
	h := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(h[:])
}
