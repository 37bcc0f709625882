package app

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/tlstest"
)

// TestHTTPSAndGeneratedFirstAdmin: with http.tls_cert/tls_key ioc speaks HTTPS only, sends HSTS and
// Secure cookies; with no admin password configured the first start writes a generated one to a
// 0600 file (never the log), and it signs in.
func TestHTTPSAndGeneratedFirstAdmin(t *testing.T) {
	cfg := testConfig(t)
	certs := tlstest.Write(t, t.TempDir())
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = certs.ServerCert, certs.ServerKey
	cfg.Admin.Password, cfg.Admin.Token = "", ""
	a := startApp(t, cfg)
	if !strings.HasPrefix(a.URL(), "https://") {
		t.Errorf("URL %s is not https", a.URL())
	}
	if a.AdminPasswordFile == "" {
		t.Fatal("no generated admin password file")
	}
	st, err := os.Stat(a.AdminPasswordFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file %s: %v %v, want mode 0600", a.AdminPasswordFile, st, err)
	}
	pw, err := os.ReadFile(a.AdminPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool(t)}}}
	body, _ := json.Marshal(map[string]string{"user": "admin", "password": strings.TrimSpace(string(pw))})
	resp, err := client.Post("https://"+a.HTTP.Addr()+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in with the generated password: %d", resp.StatusCode)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	var secure bool
	for _, c := range resp.Cookies() {
		secure = secure || (c.Name == auth.CookieName && c.Secure)
	}
	if !secure {
		t.Errorf("session cookie not Secure over TLS: %v", resp.Cookies())
	}
	if resp, err := http.Get("http://" + a.HTTP.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
	}
}
