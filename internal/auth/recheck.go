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
	// Only the credential is kept (two strings, not a header map): one of these lives as long as
	// each websocket connection.
	var name, value string
	if v := r.Header.Get("Authorization"); v != "" && !p.viaSession() {
		name, value = "Authorization", v
	}
	if c, err := r.Cookie(CookieName); err == nil && p.viaSession() {
		name, value = "Cookie", (&http.Cookie{Name: CookieName, Value: c.Value}).String()
	}
	user, role, areas := p.User, p.Role, p.Areas
	return func(ctx context.Context) bool {
		hdr := http.Header{}
		if name != "" {
			hdr.Set(name, value)
		}
		now, err := s.Authenticate((&http.Request{Header: hdr}).WithContext(ctx))
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			s.log.Warn("credential recheck failed; the connection stays until the next check", "user", user, "error", err)
			return true
		}
		return now != nil && now.User == user && now.Role == role && slices.Equal(now.Areas, areas)
	}
}

func (p *Principal) viaSession() bool { return p.Via == "session" }
