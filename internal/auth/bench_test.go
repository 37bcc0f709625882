package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGuard measures the access layer's cost per request (through a recorder, no network):
// anonymous on a public route, a session cookie (two SQLite lookups) and a bearer token (lookup and
// last-use write) on a staff route.
func BenchmarkGuard(b *testing.B) {
	h := newHarness(b, nil)
	sess, _, err := h.svc.Login(context.Background(), "admin", adminPassword, "10.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := h.svc.CreateToken(context.Background(), "admin", "bench")
	if err != nil {
		b.Fatal(err)
	}
	g := h.srv.Config.Handler
	for _, bc := range []struct {
		name, path, header, value string
	}{
		{"anonymous", "/healthz", "", ""},
		{"session", "/api/v1/auth/me", "Cookie", CookieName + "=" + sess},
		{"token", "/api/v1/auth/me", "Authorization", "Bearer " + secret},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			if bc.header != "" {
				req.Header.Set(bc.header, bc.value)
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				g.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", bc.name, w.Code)
				}
			}
		})
	}
}

// BenchmarkVerifyPassword measures one argon2id check at ioc's parameters, sequentially and with as many
// at once as the default pool runs; the parallel ns/op is the pool's throughput (checks per second
// ≈ 1e9 / ns/op) that bounds guessing from many addresses together.
func BenchmarkVerifyPassword(b *testing.B) {
	hash, err := HashPassword(adminPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("one", func(b *testing.B) {
		for b.Loop() {
			if ok, err := VerifyPassword(hash, "một-mật-khẩu-sai"); ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("pool", func(b *testing.B) {
		v := newVerifier(Defaults().LoginConcurrency, 1<<20)
		b.SetParallelism(Defaults().LoginConcurrency)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := v.verify(context.Background(), hash, "một-mật-khẩu-sai"); ok || err != nil {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}
