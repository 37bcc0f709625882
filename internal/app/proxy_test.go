package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ioc-vn/ioc/internal/auth"
)

// TestForwardedForOnlyFromTrustedProxies: behind a trusted proxy (the test's loopback address) the
// audit log records the client named by X-Forwarded-For and each client has its own rate limit;
// from a peer that is not a trusted proxy the header is ignored, so a spoofed one neither changes
// the recorded address nor escapes the limit.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		proxies    []string
		auditIP    string
		ownLimited bool // a second forwarded client has its own rate limit
	}{
		{"trusted peer", []string{"127.0.0.0/8", "::1"}, "198.51.100.9", true},
		{"untrusted peer", []string{"10.0.0.0/8"}, "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.HTTP.TrustedProxies = tc.proxies
			cfg.Auth.RateLimitIP = "5:3600"
			a := startApp(t, cfg)
			base := "http://" + a.HTTP.Addr()
			from := func(ip string, hdr http.Header) *caller {
				h := hdr.Clone()
				h.Set("X-Forwarded-For", "203.0.113.250, "+ip) // the left entry is the client's own claim
				return &caller{base: base, hdr: h}
			}
			if code, _ := from("198.51.100.9", http.Header{}).do(t, "POST", "/api/v1/auth/login", "application/json",
				strings.NewReader(`{"user":"admin","password":"sai-mật-khẩu-rồi"}`)); code != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", code)
			}
			code, raw := from("198.51.100.200", authHeader()).do(t, "GET", "/api/v1/admin/audit?action=login_failed", "", nil)
			var audit struct{ Entries []auth.AuditEntry }
			if err := json.Unmarshal([]byte(raw), &audit); err != nil || code != 200 || len(audit.Entries) != 1 {
				t.Fatalf("audit: %d %s", code, short(raw))
			}
			if got := audit.Entries[0].IP; got != tc.auditIP {
				t.Errorf("failed sign-in recorded from %q, want %q", got, tc.auditIP)
			}
			one := from("198.51.100.1", http.Header{})
			for i := 0; ; i++ {
				code, _ := one.do(t, "GET", "/healthz", "", nil)
				if code == http.StatusTooManyRequests {
					break
				}
				if i == 5 {
					t.Fatalf("no 429 after %d requests over a limit of 5", i+1)
				}
			}
			code, _ = from("198.51.100.2", http.Header{}).do(t, "GET", "/healthz", "", nil)
			if (code == http.StatusOK) != tc.ownLimited {
				t.Errorf("another forwarded client after the first is limited: %d (own limit expected: %v)", code, tc.ownLimited)
			}
		})
	}
}
