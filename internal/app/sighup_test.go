package app

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// TestSIGHUPReloadsAreas runs ioc serve as a process: SIGHUP re-reads the admin area files (here
// replaced by another province); a broken file is refused with the feature named while the process
// keeps serving with the areas it had.
func TestSIGHUPReloadsAreas(t *testing.T) {
	dir := t.TempDir()
	areas := filepath.Join(dir, "areas.geojson")
	writeAreas := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(areas, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	province := func(code string) []byte {
		t.Helper()
		data, err := os.ReadFile("../../configs/admin/" + code + ".geojson")
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	writeAreas(province("83"))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	config := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`
log: {level: info}
http: {addr: "%s"}
broker: {enabled: false}
collectors: []
store: {path: "%s/ioc.db"}
alarm: {store: {path: "%s/alarms.db"}}
reports: {store: {path: "%s/reports.db"}, photo_dir: "%s/photos", catalogue: "../../configs/services.yaml", calendar: {holidays: "../../configs/holidays-vn.yaml"}}
geo: {admin_files: ["%s"]}
`, httpAddr, dir, dir, dir, dir, areas)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its own process rather than startProcess: the log is read while the process writes it.
	var logs lockedBuffer
	cmd := exec.Command(iocBinary(t), "serve", "--config", config)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ioc: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor(t, 20*time.Second, "ioc ready", ready)
	logHas := func(what string) {
		t.Helper()
		waitFor(t, 10*time.Second, fmt.Sprintf("log line %q", what), func() bool { return strings.Contains(logs.String(), what) })
	}
	hangup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	writeAreas(province("24"))
	hangup()
	logHas("admin areas reloaded")
	logHas("areas=11")

	writeAreas([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature",
		"properties":{"code":"213","name":"Thành phố Bắc Giang","level":"district"},
		"geometry":{"type":"Polygon","coordinates":[[[106.1,21.2],[106.2,21.2],[106.2,21.3]]]}}]}`))
	hangup()
	logHas("reload on SIGHUP failed")
	logHas("features[0] (code 213, Thành phố Bắc Giang)")
	if !ready() {
		t.Fatalf("ioc stopped serving after a failed reload:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited = true
	if err := <-done; err != nil {
		t.Fatalf("ioc exited with %v:\n%s", err, logs.String())
	}
}

// lockedBuffer is a bytes.Buffer safe to write from the process's stderr copier while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
