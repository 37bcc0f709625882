package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// endSessionURL is where the browser goes to end the provider's session of ss (RP-initiated
// logout: id_token_hint, post_logout_redirect_uri, client_id); empty when the provider has no
// end_session_endpoint.
func (o *oidcFlow) endSessionURL(ctx context.Context, ss SSOSession) (string, error) {
	rp, err := o.party(ctx)
	if err != nil {
		return "", err
	}
	if rp.endSession == "" {
		return "", nil
	}
	u, err := url.Parse(rp.endSession)
	if err != nil {
		return "", fmt.Errorf("oidc end_session_endpoint: %w", err)
	}
	q := u.Query()
	q.Set("id_token_hint", ss.IDToken)
	q.Set("post_logout_redirect_uri", o.cfg.postLogoutURL())
	q.Set("client_id", o.cfg.ClientID)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// backchannelEvent is the events member of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Bounds of back-channel logout: the form it is posted in, how old its token may be, how many
// token ids are remembered against replay.
const (
	maxLogoutBody  = 16 << 10
	logoutTokenAge = 5 * time.Minute
	maxLogoutJTIs  = 10000
)

// seenJTIs remembers the ids of logout tokens accepted, until they are too old to be accepted again.
type seenJTIs struct {
	mu   sync.Mutex // guards seen
	seen map[string]time.Time
}

// add records jti, false when it was seen (a replay) or the record is full of tokens not yet old.
func (j *seenJTIs) add(jti string, now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.seen == nil {
		j.seen = map[string]time.Time{}
	}
	if _, ok := j.seen[jti]; ok {
		return false
	}
	if len(j.seen) >= maxLogoutJTIs {
		for k, at := range j.seen {
			if now.Sub(at) > 2*logoutTokenAge {
				delete(j.seen, k)
			}
		}
		if len(j.seen) >= maxLogoutJTIs {
			return false
		}
	}
	j.seen[jti] = now
	return true
}

// backchannel ends the sessions the provider says ended: a POST of a logout_token, verified like an
// ID token (signature, issuer, audience, expiry) and then as a logout token (events, sid or sub, no
// nonce, recent, jti not seen before). It answers 200, or 400 with the OAuth error envelope
// the spec asks for.
func (o *oidcFlow) backchannel(w http.ResponseWriter, r *http.Request) error {
	if !o.cfg.Enabled() {
		return notConfigured()
	}
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		return o.badLogout(r, fmt.Errorf("form: %w", err))
	}
	raw := r.PostForm.Get("logout_token")
	if raw == "" {
		return o.badLogout(r, errors.New("no logout_token"))
	}
	rp, err := o.party(r.Context())
	if err != nil {
		return httpapi.Errorf(http.StatusBadGateway, "oidc_unavailable", "the identity provider did not answer")
	}
	t, err := rp.verifier.Verify(oidc.ClientContext(r.Context(), o.client), raw)
	if err != nil {
		return o.badLogout(r, fmt.Errorf("logout token: %w", err))
	}
	var c struct {
		Events map[string]any `json:"events"`
		SID    string         `json:"sid"`
		JTI    string         `json:"jti"`
		Nonce  *string        `json:"nonce"`
	}
	if err := t.Claims(&c); err != nil {
		return o.badLogout(r, fmt.Errorf("logout token claims: %w", err))
	}
	now := o.a.s.now()
	switch _, ok := c.Events[backchannelEvent]; {
	case !ok:
		err = errors.New("logout token: events has no back-channel logout event")
	case c.Nonce != nil:
		err = errors.New("logout token: carries a nonce (an ID token, not a logout token)")
	case c.SID == "" && t.Subject == "":
		err = errors.New("logout token: neither sid nor sub")
	case c.JTI == "":
		err = errors.New("logout token: no jti")
	case t.IssuedAt.Before(now.Add(-logoutTokenAge)) || t.IssuedAt.After(now.Add(logoutTokenAge)):
		err = fmt.Errorf("logout token: issued at %s, more than %s from now", t.IssuedAt.UTC().Format(time.RFC3339), logoutTokenAge)
	case !o.jtis.add(c.JTI, now):
		err = errors.New("logout token: jti seen before (a replay)")
	}
	if err != nil {
		return o.badLogout(r, err)
	}
	n, err := o.a.s.st.DeleteSSOSessions(r.Context(), c.SID, t.Subject)
	if err != nil {
		return err
	}
	o.a.s.log.Info("sso sessions ended by the provider", "subject", t.Subject, "sessions", n)
	o.a.s.Audit(r.Context(), AuditEntry{Action: "logout", Method: r.Method, Path: r.URL.Path, Status: http.StatusOK, IP: clientIP(r),
		Detail: fmt.Sprintf("via oidc back-channel (subject %q, sid %q): %d sessions ended", t.Subject, c.SID, n)})
	w.WriteHeader(http.StatusOK)
	return nil
}

// badLogout records a refused back-channel logout and returns the 400 to answer.
func (o *oidcFlow) badLogout(r *http.Request, cause error) error {
	o.a.s.log.Warn("back-channel logout refused", "error", cause)
	o.a.s.Audit(r.Context(), AuditEntry{Action: "logout_failed", Method: r.Method, Path: r.URL.Path, Status: http.StatusBadRequest,
		IP: clientIP(r), Detail: "via oidc back-channel: " + cause.Error()})
	return httpapi.Errorf(http.StatusBadRequest, "invalid_request", "the logout token is not valid")
}
