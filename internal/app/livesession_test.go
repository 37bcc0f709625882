package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/internal/auth"
)

// TestLiveClosedWhenCredentialEnds: an open live websocket is closed by the server (1008) once the
// session it was opened with signs out, its token is revoked, or its user is disabled; a connection
// of another user stays open.
func TestLiveClosedWhenCredentialEnds(t *testing.T) {
	cfg := testConfig(t)
	cfg.Live.PingInterval = time.Second // the shortest allowed: the credential is rechecked at every ping
	a := startApp(t, cfg)
	base := "http://" + a.HTTP.Addr()
	admin := &caller{base: base, hdr: authHeader()}
	for _, tc := range []struct {
		name  string
		token bool                                  // connect with an API token, else a session cookie
		end   func(c *caller, user, tokenID string) // ends the credential
	}{
		{"sign-out", false, func(c *caller, _, _ string) {
			if code, raw := c.do(t, "POST", "/api/v1/auth/logout", "", nil); code != http.StatusNoContent {
				t.Fatalf("logout: %d %s", code, raw)
			}
		}},
		{"token revoked", true, func(_ *caller, _, id string) {
			if code, raw := admin.do(t, "DELETE", "/api/v1/admin/tokens/"+id, "", nil); code >= 300 {
				t.Fatalf("revoke: %d %s", code, raw)
			}
		}},
		{"user disabled", false, func(_ *caller, user, _ string) {
			if code, raw := admin.do(t, "PUT", "/api/v1/admin/users/"+user, "application/json",
				strings.NewReader(`{"role":"operator","disabled":true}`)); code != http.StatusOK {
				t.Fatalf("disable: %d %s", code, raw)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "op." + strings.ReplaceAll(tc.name, " ", "-")
			if err := a.Auth.AddUser(t.Context(), auth.User{Name: user, Role: auth.RoleOperator}, "mật-khẩu-"+user); err != nil {
				t.Fatal(err)
			}
			c, tokenID := signIn(t, base, user, "mật-khẩu-"+user), ""
			if tc.token {
				tok, secret, err := a.Auth.CreateToken(t.Context(), user, "bản đồ / map")
				if err != nil {
					t.Fatal(err)
				}
				c, tokenID = &caller{base: base, hdr: http.Header{"Authorization": {"Bearer " + secret}}}, tok.ID
			}
			conn := dialAs(t, base, c.hdr)
			other := dialAs(t, base, authHeader())
			tc.end(c, user, tokenID)
			if err := readUntilClosed(conn); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
				t.Fatalf("connection ended with %v, want a 1008 close from the server", err)
			}
			// The admin's connection is still served: an unknown frame gets its error frame back.
			if err := other.WriteMessage(websocket.TextMessage, []byte(`{"type":"bogus"}`)); err != nil {
				t.Fatal(err)
			}
			_ = other.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				var f struct{ Type string }
				if err := other.ReadJSON(&f); err != nil {
					t.Fatalf("the admin's connection ended too: %v", err)
				}
				if f.Type == "error" {
					break
				}
			}
		})
	}
}

func dialAs(t *testing.T, base string, hdr http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/api/v1/live", hdr)
	if err != nil {
		t.Fatalf("dial live: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readUntilClosed reads frames until the connection ends and returns why (10 s at most).
func readUntilClosed(conn *websocket.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return err
		}
	}
}
