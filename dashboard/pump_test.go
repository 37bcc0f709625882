package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A control frame queued before a view frame goes out first, even when the write pump starts with both
// ready (its select would otherwise pick at random): a viewport client's first, empty snapshot must
// never follow, and so wipe, the viewport snapshot its subscribe asked for.
func TestWritePumpSendsControlFramesFirst(t *testing.T) {
	h, _ := testHub(t, HubConfig{}, nil)
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- conn
	}))
	defer srv.Close()
	for i := range 30 {
		browser, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &client{hub: h, conn: <-conns, notify: make(chan struct{}, 1), ctrl: make(chan *Frame, 8), quit: make(chan struct{})}
		c.ctrl <- &Frame{Type: "snapshot", Mode: "viewport", Items: []Item{}}
		c.latest = &Frame{Type: "snapshot", Mode: "items", Items: []Item{{ID: "st-1"}}}
		c.notify <- struct{}{}
		c.kick()
		var order []string
		for range 2 {
			_ = browser.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := browser.ReadMessage()
			if err != nil {
				t.Fatalf("run %d: read: %v", i, err)
			}
			var f Frame
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			order = append(order, f.Mode)
		}
		if order[0] != "viewport" || order[1] != "items" {
			t.Fatalf("run %d: frames went out as %v: the first snapshot must precede the view", i, order)
		}
		c.close(websocket.CloseNormalClosure, "")
		browser.Close()
	}
}
