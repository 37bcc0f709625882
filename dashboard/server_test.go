package dashboard

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/registry"
	"github.com/ioc-vn/ioc/stream"
)

// TestLiveOutlastsTheServerTimeouts serves the websocket through the server with read and write
// timeouts of 200 ms: a plain connection that stalls its body is cut by them, while a websocket
// opened at the same time still gets the updates published after that (the hub keeps its own
// deadlines).
func TestLiveOutlastsTheServerTimeouts(t *testing.T) {
	h, _ := testHub(t, HubConfig{}, nil)
	lim := httpapi.DefaultServerLimits()
	lim.ReadTimeout, lim.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	s, err := NewServer("127.0.0.1:0", slog.New(slog.DiscardHandler), Deps{Hub: h, Registry: registry.New(true, nil), Limits: &lim})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, time.Second) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	ws := dial(t, "ws://"+s.Addr()+"/api/v1/live")
	ws.next("snapshot", func(f Frame) bool { return f.Type == "snapshot" })

	stall, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	if _, err := io.WriteString(stall, "POST /api/v1/devices HTTP/1.1\r\nHost: ioc\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = stall.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, bufio.NewReader(stall)); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the stalled connection was not cut by the server: %v", err)
	}
	h.Publish([]Item{item("after-timeouts", "salinity", stream.TypeTelemetry, 106.37, 10.24)})
	ws.next("the update published after the timeouts", func(f Frame) bool {
		return f.Type == "update" && slices.ContainsFunc(f.Items, func(it Item) bool { return it.ID == "after-timeouts" })
	})
}
