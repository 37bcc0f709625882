package auth

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/pgtest"
)

var drivers = []string{"sqlite", "postgres"}

// openTestStore opens a fresh store: a temp SQLite file or a unique PostgreSQL schema (dropped at the
// end). A PostgreSQL that cannot be reached fails the test.
func openTestStore(t testing.TB, driver string) Store {
	t.Helper()
	cfg := StoreConfig{Driver: driver, Path: filepath.Join(t.TempDir(), "auth.db")}
	if driver == "postgres" {
		cfg.DSN = pgtest.Schema(t, "auth_test")
	}
	st, err := OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStoreContract runs the same checks on SQLite and PostgreSQL.
func TestStoreContract(t *testing.T) {
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := openTestStore(t, driver)
			t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

			// Users.
			u := User{Name: "op.lan", DisplayName: "Trần Thị Lan", Role: RoleOperator, Areas: []string{"83-829", "83-831"},
				Created: t0, PasswordHash: "$argon2id$x"}
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateUser(ctx, u); !errors.Is(err, ErrExists) {
				t.Errorf("duplicate user: %v, want ErrExists", err)
			}
			got, err := st.User(ctx, "op.lan")
			if err != nil {
				t.Fatal(err)
			}
			if got.DisplayName != u.DisplayName || got.Role != RoleOperator || len(got.Areas) != 2 || got.Areas[1] != "83-831" ||
				!got.Created.Equal(t0) || got.PasswordHash != u.PasswordHash || got.Disabled {
				t.Errorf("user read back as %+v", got)
			}
			got.Disabled, got.Areas, got.Role, got.Unit = true, nil, RoleUnit, "cong-an-ba-tri"
			if err := st.UpdateUser(ctx, got); err != nil {
				t.Fatal(err)
			}
			if got, _ = st.User(ctx, "op.lan"); !got.Disabled || got.Areas != nil || got.Unit != "cong-an-ba-tri" {
				t.Errorf("updated user %+v", got)
			}
			if err := st.UpdateUser(ctx, User{Name: "nobody"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("update unknown user: %v", err)
			}
			if _, err := st.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown user: %v", err)
			}
			if n, err := st.CountUsers(ctx); err != nil || n != 1 {
				t.Errorf("CountUsers = %d, %v", n, err)
			}

			// Sessions.
			h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
			for _, s := range []Session{{Hash: h1, User: "op.lan", Created: t0, Expires: t0.Add(time.Hour)},
				{Hash: h2, User: "op.lan", Created: t0, Expires: t0.Add(3 * time.Hour)}} {
				if err := st.CreateSession(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			if s, err := st.Session(ctx, h1); err != nil || s.User != "op.lan" || !s.Expires.Equal(t0.Add(time.Hour)) {
				t.Errorf("session %+v, %v", s, err)
			}
			if err := st.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Session(ctx, h1); !errors.Is(err, ErrNotFound) {
				t.Errorf("expired session still there: %v", err)
			}
			if err := st.DeleteUserSessions(ctx, "op.lan"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Session(ctx, h2); !errors.Is(err, ErrNotFound) {
				t.Errorf("user's session still there: %v", err)
			}

			// Tokens.
			tok := Token{ID: "a1b2c3", User: "op.lan", Name: "sở TN&MT", Created: t0, Hash: bytes.Repeat([]byte{7}, 32)}
			if err := st.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateToken(ctx, tok); !errors.Is(err, ErrExists) {
				t.Errorf("duplicate token: %v", err)
			}
			if err := st.TouchToken(ctx, tok.ID, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			gt, err := st.TokenByHash(ctx, tok.Hash)
			if err != nil || gt.ID != tok.ID || gt.Name != tok.Name || gt.LastUsed == nil || !gt.LastUsed.Equal(t0.Add(time.Minute)) || gt.Revoked != nil {
				t.Errorf("token %+v, %v", gt, err)
			}
			if err := st.RevokeToken(ctx, tok.ID, t0.Add(2*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := st.RevokeToken(ctx, tok.ID, t0.Add(3*time.Minute)); !errors.Is(err, ErrNotFound) {
				t.Errorf("second revoke: %v, want ErrNotFound", err)
			}
			if ts, err := st.Tokens(ctx, "op.lan"); err != nil || len(ts) != 1 || ts[0].Revoked == nil || !ts[0].Revoked.Equal(t0.Add(2*time.Minute)) {
				t.Errorf("tokens %+v, %v", ts, err)
			}
			if ts, err := st.Tokens(ctx, "someone-else"); err != nil || len(ts) != 0 {
				t.Errorf("other user's tokens %+v, %v", ts, err)
			}
			for i, id := range []string{"d4e5f6", "a7b8c9"} {
				if err := st.CreateToken(ctx, Token{ID: id, User: "op.lan", Name: "x", Created: t0, Hash: bytes.Repeat([]byte{byte(8 + i)}, 32)}); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := st.RevokeUserTokens(ctx, "op.lan", t0.Add(4*time.Minute)); err != nil || n != 2 {
				t.Errorf("RevokeUserTokens = %d, %v; want the 2 unrevoked", n, err)
			}
			if ts, err := st.Tokens(ctx, "op.lan"); err != nil || len(ts) != 3 || !ts[0].Revoked.Equal(t0.Add(2*time.Minute)) || ts[2].Revoked == nil {
				t.Errorf("tokens after RevokeUserTokens %+v, %v", ts, err)
			}

			// Audit: newest first, filters.
			for i, a := range []string{"login", "POST /api/v1/alarms/", "login"} {
				if err := st.AddAudit(ctx, AuditEntry{At: t0.Add(time.Duration(i) * time.Minute), Actor: "op.lan", Role: RoleOperator,
					Action: a, Method: "POST", Path: "/x", Status: 200, IP: "10.0.0.7"}); err != nil {
					t.Fatal(err)
				}
			}
			es, err := st.Audit(ctx, AuditQuery{Actor: "op.lan", Action: "login"})
			if err != nil || len(es) != 2 || !es[0].At.Equal(t0.Add(2*time.Minute)) || es[0].IP != "10.0.0.7" {
				t.Errorf("audit by action %+v, %v", es, err)
			}
			if es, err := st.Audit(ctx, AuditQuery{From: t0.Add(time.Minute), To: t0.Add(2 * time.Minute)}); err != nil || len(es) != 1 || es[0].Action != "POST /api/v1/alarms/" {
				t.Errorf("audit by time %+v, %v", es, err)
			}

			// SSO records: read back, updated, deleted with their session; DeleteSSOSessions ends
			// exactly the sessions of a provider session (sid) or of a subject.
			hash := func(b byte) []byte { return bytes.Repeat([]byte{0x10 + b}, 32) }
			for i, r := range []struct{ sid, sub string }{{"sid-a", "sub-1"}, {"sid-a", "sub-1"}, {"sid-b", "sub-1"}, {"sid-c", "sub-2"}} {
				h := hash(byte(i + 1))
				if err := st.CreateSession(ctx, Session{Hash: h, User: "op.lan", Created: t0, Expires: t0.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				if err := st.CreateSSOSession(ctx, SSOSession{Hash: h, SID: r.sid, Subject: r.sub, IDToken: "id", RefreshToken: "rt", Checked: t0}); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.UpdateSSOSession(ctx, SSOSession{Hash: hash(1), IDToken: "id2", RefreshToken: "rt2", Checked: t0.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			rec, err := st.SSOSession(ctx, hash(1))
			if err != nil || rec.SID != "sid-a" || rec.Subject != "sub-1" || rec.IDToken != "id2" || rec.RefreshToken != "rt2" || !rec.Checked.Equal(t0.Add(time.Minute)) {
				t.Errorf("SSO record read back as %+v, %v", rec, err)
			}
			if err := st.UpdateSSOSession(ctx, SSOSession{Hash: hash(9)}); !errors.Is(err, ErrNotFound) {
				t.Errorf("update of an unknown record: %v, want ErrNotFound", err)
			}
			alive := func() (n int) {
				for i := byte(1); i <= 4; i++ {
					if _, err := st.Session(ctx, hash(i)); err == nil {
						n++
					}
				}
				return n
			}
			if n, err := st.DeleteSSOSessions(ctx, "sid-a", "sub-1"); err != nil || n != 2 || alive() != 2 {
				t.Errorf("DeleteSSOSessions(sid-a) = %d, %v; %d sessions left, want 2 ended and 2 left", n, err, alive())
			}
			if n, err := st.DeleteSSOSessions(ctx, "", "sub-2"); err != nil || n != 1 || alive() != 1 {
				t.Errorf("DeleteSSOSessions(sub-2) = %d, %v; %d sessions left, want 1 left", n, err, alive())
			}
			if err := st.DeleteSession(ctx, hash(3)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SSOSession(ctx, hash(3)); !errors.Is(err, ErrNotFound) {
				t.Errorf("the SSO record outlived its session: %v", err)
			}
		})
	}
}
