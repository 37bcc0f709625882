// Package apptest gives tests that start the whole of ioc (internal/app's own and the browser tests)
// one configuration: free loopback ports, a temporary data directory, the repository's service
// catalogue and Bến Tre boundaries, a first admin with a known password and token, and no rate limits
// (tests call fast from one address). It is imported only by tests.
package apptest

import (
	"path/filepath"
	"testing"

	"github.com/ioc-vn/ioc/internal/config"
)

// The first admin of test configurations: tests sign in with Password or call with Token.
const (
	Password = "mật-khẩu-thử-nghiệm"
	Token    = "ioc_test_0123456789abcdef0123456789"
)

// Config is the default configuration made safe for a test; root is the repository root relative to
// the test's directory.
func Config(t testing.TB, root string) config.Config {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	dir := t.TempDir()
	cfg.Store.Path = filepath.Join(dir, "ioc.db")
	cfg.Alarm.Store.Path = filepath.Join(dir, "alarms.db")
	cfg.Reports.Store.Path = filepath.Join(dir, "reports.db")
	cfg.Reports.PhotoDir = filepath.Join(dir, "photos")
	cfg.Reports.Catalogue = filepath.Join(root, "configs", "services.yaml")
	cfg.Reports.Calendar.Holidays = filepath.Join(root, "configs", "holidays-vn.yaml")
	cfg.Geo.AdminFiles = []string{filepath.Join(root, "configs", "admin", "83.geojson")}
	cfg.Auth.Store.Path = filepath.Join(dir, "auth.db")
	cfg.Auth.RateLimitIP, cfg.Auth.RateLimitToken = "", ""
	cfg.Admin.Password, cfg.Admin.Token = Password, Token
	cfg.Log.Level = "warn"
	return cfg
}
