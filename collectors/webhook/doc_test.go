package webhook

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDocSigningExampleIsAccepted runs the shell signing example of docs/CAMERAS.md, as printed there, against
// the webhook handler: a reader who copies it must get the push accepted, not 401 bad_signature.
func TestDocSigningExampleIsAccepted(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "CAMERAS.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Signing example \\(shell[^)]*\\):\n```sh\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/CAMERAS.md: no \"Signing example (shell)\" block")
	}
	now := time.Now()
	c, rec, _ := newTestCollector(t, &now)
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	script := string(m[1])
	const docURL = "https://ioc.example/api/v1/ingest/camera/vendor-a"
	if !strings.Contains(script, docURL) || !strings.Contains(script, "curl ") {
		t.Fatalf("the example no longer posts to %s with curl:\n%s", docURL, script)
	}
	script = strings.Replace(script, "https://ioc.example", srv.URL, 1)
	// Print the status code; the example itself prints only the body.
	script = strings.Replace(script, "curl ", "curl -sS -o /dev/null -w '%{http_code}' ", 1)

	dir := t.TempDir()
	// The fixture ends with a newline, as files written by editors do: the signature must cover it.
	body := fixture(t, "events.json")
	if body[len(body)-1] != '\n' {
		t.Fatal("fixture events.json should end with a newline for this test to mean anything")
	}
	if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SECRET="+hmacSecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	if code := strings.TrimSpace(string(out)); !strings.HasPrefix(code, "2") {
		t.Fatalf("example got HTTP %s, want 2xx", code)
	}
	rec.Wait(t, 1, 10*time.Second)
}
