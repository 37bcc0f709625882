package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOIDCSecretFromFile: the client secret comes from IOC_AUTH_OIDC_CLIENT_SECRET_FILE, like every
// other secret, and a configured provider validates.
func TestOIDCSecretFromFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secret, []byte("ioc-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(file, []byte(`auth:
  oidc:
    issuer: https://sso.bentre.gov.vn/realms/ioc
    client_id: ioc
    redirect_url: https://ioc.bentre.gov.vn/auth/oidc/callback
    roles:
      - {value: ioc-ba-tri, role: operator, areas: ["831"]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file, []string{"IOC_AUTH_OIDC_CLIENT_SECRET_FILE=" + secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o := cfg.Auth.OIDC
	if o.ClientSecret != "ioc-client-secret" || o.UserClaim != "preferred_username" || o.UnknownUsers != "refuse" || len(o.Scopes) != 4 {
		t.Errorf("oidc config %+v: want the secret from the file and the defaults", o)
	}
}
