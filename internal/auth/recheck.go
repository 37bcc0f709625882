package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
)

// Recheck returns a check that the credential r was let in with still holds, for connections that
// outlive their request (the live websocket): false once its session has ended (sign-out, expiry, a
// password or account change), its token is revoked, its user is disabled or gone, or the user's role
// or areas changed. A store that cannot be reached counts as still valid (the next check decides).
// It returns nil for an anonymous request.
func (s *Service) Recheck(r *http.Request) func(ctx context.Context) bool {
	p := From(r.Context())
	if p == nil {
		return nil
	}
	hdr := http.Header{}
	if v := r.Header.Get("Authorization"); v != "" && !p.viaSession() {
		hdr.Set("Authorization", v)
	}
	if c, err := r.Cookie(CookieName); err == nil && p.viaSession() {
		hdr.Set("Cookie", (&http.Cookie{Name: CookieName, Value: c.Value}).String())
	}
	return func(ctx context.Context) bool {
		now, err := s.Authenticate((&http.Request{Header: hdr}).WithContext(ctx))
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			s.log.Warn("credential recheck failed; the connection stays until the next check", "user", p.User, "error", err)
			return true
		}
		return now != nil && now.User == p.User && now.Role == p.Role && slices.Equal(now.Areas, p.Areas)
	}
}

func (p *Principal) viaSession() bool { return p.Via == "session" }
