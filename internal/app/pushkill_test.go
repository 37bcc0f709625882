package app

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/mqtttest"
)

// pushToken is the bearer secret of the webhook source "kt" in pushConfig.
const pushToken = "khóa-đẩy-sự-kiện-2026"

// countedPusher posts camera events to ioc's webhook, one per request from several connections at once,
// each with its own event_id, retrying an event until it is answered 202, and records every 202.
type countedPusher struct {
	url      string
	base     time.Time
	pace     time.Duration // pause between a connection's posts (0: full speed)
	next     atomic.Int64
	mu       sync.Mutex
	accepted map[string]bool
}

func newCountedPusher(httpAddr string, base time.Time) *countedPusher {
	return &countedPusher{url: "http://" + httpAddr + "/api/v1/ingest/camera/kt", base: base, accepted: map[string]bool{}}
}

// run pushes until stop is closed, from conns connections.
func (p *countedPusher) run(conns int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := p.next.Add(1) - 1
				id := fmt.Sprintf("kt-%d", n)
				body := fmt.Sprintf(`{"events":[{"camera":"cam-%d","event_id":%q,"time":%q,"type":"intrusion","label":"person","state":"active"}]}`,
					n%8, id, p.base.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano))
				for !p.post(client, id, body) {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond): // ioc is restarting: send again, as a camera would
					}
				}
				select {
				case <-stop:
					return
				case <-time.After(p.pace):
				}
			}
		}()
	}
	wg.Wait()
}

func (p *countedPusher) post(client *http.Client, id, body string) bool {
	req, err := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+pushToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return false
	}
	p.mu.Lock()
	p.accepted[id] = true
	p.mu.Unlock()
	return true
}

func (p *countedPusher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

// checkExactlyOnce checks that every accepted push is among stored (event_id → rows) and that no event
// is stored twice. It returns how many events are stored.
func (p *countedPusher) checkExactlyOnce(t testing.TB, stored map[string]int) int {
	t.Helper()
	lost := 0
	for id := range p.accepted {
		if stored[id] == 0 {
			lost++
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d accepted pushes were not stored", lost, len(p.accepted))
	}
	return len(stored)
}

// storedEventIDs counts the stored camera events by event_id.
func storedEventIDs(t testing.TB, db, prefix string) map[string]int {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(context.Background(), `SELECT event_id FROM events WHERE event_id LIKE ?`, prefix+"-%")
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPushKillLosesNothingAccepted: camera events pushed to the webhook from four connections at once,
// ioc killed (SIGKILL) or stopped (SIGTERM) mid-stream and started again: every push answered 202 is
// stored, once.
func TestPushKillLosesNothingAccepted(t *testing.T) {
	iocBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
			config := durableConfig(t, dir, httpAddr, fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)), nil, "embedded")
			p := startProcess(t, config, httpAddr)
			push := newCountedPusher(httpAddr, time.Now().Add(-time.Hour).Truncate(time.Millisecond))
			stop := make(chan struct{})
			pushed := make(chan struct{})
			go func() { push.run(4, stop); close(pushed) }()

			waitFor(t, 30*time.Second, "pushes accepted before the stop", func() bool { return push.count() >= 300 })
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-p.done
			if sig == syscall.SIGTERM && p.err != nil {
				t.Fatalf("ioc stopped with %v\n%s", p.err, p.stderr.String())
			}
			before := push.count()
			p = startProcess(t, config, httpAddr)
			waitFor(t, 30*time.Second, "pushes accepted after the restart", func() bool { return push.count() >= before+300 })
			close(stop)
			<-pushed
			p.stop(t)

			n := push.checkExactlyOnce(t, storedEventIDs(t, filepath.Join(dir, "ioc.db"), "kt"))
			t.Logf("accepted %d (%d before the %s), stored %d", len(push.accepted), before, sig, n)
		})
	}
}
