package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// revalidateRetry is how long after the provider failed to answer a session's revalidation it is
// asked again for that session (requests in between are decided by UnreachableGrace alone).
const revalidateRetry = 30 * time.Second

// revalidation is the state of revalidating sessions: one call to the provider per session at a
// time (the refresh token may be rotated: two concurrent refreshes with one token would fail, and
// some providers then revoke the whole grant), and when the provider last failed to answer.
type revalidation struct {
	mu       sync.Mutex // guards inflight and failed
	inflight map[string]*revalidateCall
	failed   map[string]time.Time // session hash → when the provider last did not answer
}

type revalidateCall struct {
	done chan struct{}
	u    User
	ok   bool
	err  error
}

// revalidate confirms the session whose hash is given with the provider once RevalidateEvery has
// passed since it last was (a refresh token grant; the claims of the new ID token or userinfo are
// mapped as at sign-in), and returns its user, possibly with a new role. false: the session has
// ended (deleted, audited). A session that did not come through SSO is returned as it is.
func (o *oidcFlow) revalidate(ctx context.Context, hash []byte, u User) (User, bool, error) {
	every := o.cfg.RevalidateEvery
	if every <= 0 {
		return u, true, nil
	}
	ss, err := o.a.s.st.SSOSession(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return u, true, nil
	}
	if err != nil {
		return User{}, false, err
	}
	now := o.a.s.now()
	if now.Sub(ss.Checked) < every {
		return u, true, nil
	}
	key := string(hash)
	o.rv.mu.Lock()
	if o.rv.inflight == nil {
		o.rv.inflight, o.rv.failed = map[string]*revalidateCall{}, map[string]time.Time{}
	}
	if at, ok := o.rv.failed[key]; ok && now.Sub(at) < min(every, revalidateRetry) {
		o.rv.mu.Unlock()
		return o.unreachable(ctx, ss, u, errors.New("the provider did not answer the last revalidation"))
	}
	c, joined := o.rv.inflight[key]
	if !joined {
		c = &revalidateCall{done: make(chan struct{})}
		o.rv.inflight[key] = c
	}
	o.rv.mu.Unlock()
	if !joined {
		// Not cancelled with the request: the requests waiting on it share the answer.
		c.u, c.ok, c.err = o.check(context.WithoutCancel(ctx), ss, u)
		o.rv.mu.Lock()
		delete(o.rv.inflight, key)
		o.rv.mu.Unlock()
		close(c.done)
	}
	select {
	case <-c.done:
		return c.u, c.ok, c.err
	case <-ctx.Done():
		return User{}, false, ctx.Err()
	}
}

// errProviderDown marks a revalidation the provider did not answer.
var errProviderDown = errors.New("the identity provider did not answer")

// check asks the provider about ss and applies its answer.
func (o *oidcFlow) check(ctx context.Context, ss SSOSession, u User) (User, bool, error) {
	nu, ss, err := o.refresh(ctx, ss, u)
	key := string(ss.Hash)
	switch {
	case errors.Is(err, errProviderDown):
		o.rv.mu.Lock()
		o.rv.failed[key] = o.a.s.now()
		o.rv.mu.Unlock()
		return o.unreachable(ctx, ss, u, err)
	case err != nil:
		return User{}, false, o.end(ctx, ss, u, err.Error())
	}
	o.rv.mu.Lock()
	delete(o.rv.failed, key)
	o.rv.mu.Unlock()
	ss.Checked = o.a.s.now()
	if err := o.a.s.st.UpdateSSOSession(ctx, ss); err != nil {
		return User{}, false, err
	}
	o.a.s.m.revalidations.WithLabelValues("ok").Inc()
	return nu, true, nil
}

// unreachable applies UnreachableGrace to a session the provider could not be asked about.
func (o *oidcFlow) unreachable(ctx context.Context, ss SSOSession, u User, cause error) (User, bool, error) {
	if since := o.a.s.now().Sub(ss.Checked); since <= o.cfg.UnreachableGrace {
		o.a.s.m.revalidations.WithLabelValues("unreachable_kept").Inc()
		o.a.s.log.Warn("sso session kept unconfirmed: the provider did not answer", "user", u.Name,
			"unconfirmed_for", since.Round(time.Second).String(), "grace", o.cfg.UnreachableGrace.String(), "error", cause)
		return u, true, nil
	}
	return User{}, false, o.end(ctx, ss, u, fmt.Sprintf("the provider did not answer for longer than unreachable_grace (%s): %v", o.cfg.UnreachableGrace, cause))
}

// end ends a session revalidation refused, with an audit entry.
func (o *oidcFlow) end(ctx context.Context, ss SSOSession, u User, reason string) error {
	if err := o.a.s.st.DeleteSession(ctx, ss.Hash); err != nil {
		return err
	}
	o.rv.mu.Lock()
	delete(o.rv.failed, string(ss.Hash))
	o.rv.mu.Unlock()
	o.a.s.m.revalidations.WithLabelValues("ended").Inc()
	o.a.s.log.Info("sso session ended by revalidation", "user", u.Name, "reason", reason)
	o.a.s.Audit(ctx, AuditEntry{Actor: u.Name, Role: u.Role, Action: "logout", Status: http.StatusUnauthorized,
		Detail: "via oidc revalidation: " + reason})
	return nil
}

// refresh runs the refresh token grant for ss and maps the answer's claims; ss comes back with the
// new tokens. An error wrapping errProviderDown: no answer; any other: the provider refused (the
// user is disabled, the provider's session ended) or the user no longer maps to a role.
func (o *oidcFlow) refresh(ctx context.Context, ss SSOSession, u User) (User, SSOSession, error) {
	if ss.RefreshToken == "" {
		return User{}, ss, errors.New("the provider gave no refresh token to revalidate with")
	}
	rp, err := o.party(ctx)
	if err != nil {
		return User{}, ss, fmt.Errorf("%w: %w", errProviderDown, err)
	}
	cctx := oidc.ClientContext(ctx, o.client)
	tok, err := rp.oauth.TokenSource(cctx, &oauth2.Token{RefreshToken: ss.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return User{}, ss, fmt.Errorf("the provider refused the refresh token: %d %s", re.Response.StatusCode, re.ErrorCode)
		}
		if errors.As(err, &re) { // its body is not ours to log
			err = fmt.Errorf("token endpoint answered %d", re.Response.StatusCode)
		}
		return User{}, ss, fmt.Errorf("%w: %w", errProviderDown, err)
	}
	var idt *oidc.IDToken
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		if idt, err = rp.verifier.Verify(cctx, raw); err != nil {
			return User{}, ss, fmt.Errorf("refreshed id token: %w", err)
		}
		if idt.Subject != ss.Subject {
			return User{}, ss, fmt.Errorf("refreshed id token is of subject %q, not %q", idt.Subject, ss.Subject)
		}
		ss.IDToken = raw
	}
	if tok.RefreshToken != "" {
		ss.RefreshToken = tok.RefreshToken
	}
	claims, err := o.claims(cctx, rp, idt, ss.Subject, tok)
	if err != nil {
		return User{}, ss, fmt.Errorf("%w: %w", errProviderDown, err)
	}
	if name := o.accountName(claims); name != u.Name {
		return User{}, ss, fmt.Errorf("the provider now names account %q, not %q", name, u.Name)
	}
	if o.cfg.RoleClaim == "" {
		return u, ss, nil
	}
	m, ok := o.mapRole(claims)
	if !ok {
		return User{}, ss, fmt.Errorf("no value of claim %s is mapped to a role any more", o.cfg.RoleClaim)
	}
	if u, err = o.applyRole(ctx, u, m); err != nil {
		return User{}, ss, err
	}
	return u, ss, nil
}
