package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/internal/app"
	"github.com/ioc-vn/ioc/internal/app/apptest"
	"github.com/ioc-vn/ioc/internal/config"
)

// Chromium is the browser the tests drive (Debian's chromium package, installed by .ci/deps).
const Chromium = "/usr/bin/chromium"

// The first admin: the browser signs in with the password, the tests' own API calls use the token.
const (
	adminPassword = apptest.Password
	adminToken    = apptest.Token
)

// rules raise a critical alarm when a salinity station reads over 4 ‰.
const rules = `
rules:
  - id: salinity-critical
    name: "Xâm nhập mặn vượt 4‰ / salinity over 4‰"
    severity: critical
    scope: {kinds: [salinity]}
    when: {threshold: {field: salinity, op: ">", value: 4, clear: 3.5}}
`

// TestBrowser builds the web pages from dashboard/web and, for each boundary set, starts ioc on free
// loopback ports with an embedded broker and temporary stores, and runs browser tests (node's test
// runner, playwright-core, Debian chromium): e2e/pages.test.mjs on the old Bến Tre districts (83),
// e2e/communes.test.mjs on the new Tỉnh Vĩnh Long's communes (86-2025). A small control server lets
// the browser tests publish MQTT readings like a field device. Screenshots go to test-artifacts/.
func TestBrowser(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []struct{ path, hint string }{
		{Chromium, "apt-get install chromium (make deps)"},
		{filepath.Join(root, "node_modules", "playwright-core", "package.json"), "npm ci (make deps)"},
		{filepath.Join(root, "node_modules", "esbuild", "package.json"), "npm ci (make deps)"},
	} {
		if _, err := os.Stat(need.path); err != nil {
			t.Fatalf("browser tests need %s: %v — %s", need.path, err, need.hint)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("browser tests need node: %v — apt-get install nodejs npm", err)
	}

	web := filepath.Join(t.TempDir(), "web")
	build := exec.Command(node, filepath.Join(root, "dashboard", "web", "build.mjs"), "--out", web)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build web pages: %v\n%s", err, out)
	}

	for _, tc := range []struct{ name, admin, script string }{
		{"districts", "83.geojson", "pages.test.mjs"},
		{"communes", "86-2025.geojson", "communes.test.mjs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browse(t, root, node, web, filepath.Join(root, "configs", "admin", tc.admin), tc.script)
		})
	}
}

// browse starts ioc with the boundary file admin and runs the browser tests of script on it.
func browse(t *testing.T, root, node, web, admin, script string) {
	cfg := testConfig(t, root)
	cfg.Geo.AdminFiles = []string{admin}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("IOC_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.Start(ctx, cfg, log, app.Options{Web: os.DirFS(web), AdminFile: admin})
	if err != nil {
		cancel()
		t.Fatalf("start ioc: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := a.Wait(); err != nil {
			t.Errorf("ioc stopped with: %v", err)
		}
	})
	waitCollector(t, a.Gatherer)

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(a.Broker.URL()).SetClientID("e2e-field-device").SetCleanSession(true))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect test publisher to %s: %v", a.Broker.URL(), tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(100) })
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Topic   string          `json:"topic"`
			Payload json.RawMessage `json:"payload"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/publish" || json.NewDecoder(r.Body).Decode(&msg) != nil || msg.Topic == "" {
			http.Error(w, "POST /publish {topic, payload}", http.StatusBadRequest)
			return
		}
		if tok := pub.Publish(msg.Topic, 1, false, []byte(msg.Payload)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			http.Error(w, fmt.Sprintf("publish: %v", tok.Error()), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(control.Close)

	artifacts := filepath.Join(root, "test-artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(context.Background(), 5*time.Minute)
	defer stop()
	cmd := exec.CommandContext(runCtx, node, "--test", "--test-reporter=spec", filepath.Join("e2e", script))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"IOC_URL="+strings.TrimSuffix(a.URL(), "/"),
		"IOC_CONTROL="+control.URL,
		"IOC_ARTIFACTS="+artifacts,
		"IOC_CHROMIUM="+Chromium,
		"IOC_USER="+cfg.Admin.User, "IOC_PASSWORD="+adminPassword, "IOC_TOKEN="+adminToken,
		"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test e2e/%s:\n%s", script, out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}

// testConfig is the default configuration on free loopback ports with temporary stores and the
// critical salinity rule.
func testConfig(t *testing.T, root string) config.Config {
	cfg := apptest.Config(t, root)
	cfg.Reports.MinFillTime = 0 // the bot check still needs a valid form token
	if err := yaml.Unmarshal([]byte(rules), &cfg.Alarm); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitCollector waits until the MQTT collector has connected to the embedded broker, so no test
// reading is published before anyone listens.
func waitCollector(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "ioc_collector_connections_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "event" && l.GetValue() == "connected" && m.GetCounter().GetValue() >= 1 {
						return
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the MQTT collector never connected to the embedded broker")
}
