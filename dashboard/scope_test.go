package dashboard

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/stream"
)

// A client whose filter (set at upgrade, e.g. an area-scoped operator) rejects an entity never
// receives it: not in the snapshot, not in updates, not in a viewport snapshot.
func TestClientFilterHidesOutOfScopeItems(t *testing.T) {
	inArea := func(id, area string, lon float64) Item {
		it := item(id, "salinity", stream.TypeTelemetry, lon, 10.1)
		it.Areas = map[string]string{"district": area}
		return it
	}
	allow := func(r *http.Request) func(Item) bool {
		if r.Header.Get("X-Scope") == "" {
			return nil
		}
		return func(it Item) bool { return it.Areas["district"] == r.Header.Get("X-Scope") }
	}
	h, url := testHub(t, HubConfig{Allow: allow}, []Item{inArea("ba-tri-1", "83-831", 106.6), inArea("mo-cay-1", "83-829", 106.3)})
	scoped := dialWith(t, url, http.Header{"X-Scope": {"83-831"}})
	all := dial(t, url)
	if f := scoped.next("snapshot", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"ba-tri-1"}) {
		t.Fatalf("scoped snapshot %v", ids(f.Items))
	}
	if f := all.next("snapshot", isType("snapshot")); len(f.Items) != 2 {
		t.Fatalf("unscoped snapshot %v: the filter must only apply where set", ids(f.Items))
	}
	h.Publish([]Item{inArea("mo-cay-2", "83-829", 106.31), inArea("ba-tri-2", "83-831", 106.61)})
	if f := scoped.next("update", isType("update")); !slices.Equal(ids(f.Items), []string{"ba-tri-2"}) {
		t.Fatalf("scoped update %v", ids(f.Items))
	}
	scoped.send(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":15}`)
	if f := scoped.next("viewport snapshot", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"ba-tri-1", "ba-tri-2"}) {
		t.Fatalf("scoped viewport snapshot %v", ids(f.Items))
	}
}

// A browser sending frames faster than MessageRate is disconnected.
func TestInboundFrameRateLimit(t *testing.T) {
	_, url := testHub(t, HubConfig{MessageRate: 5}, nil)
	c := dial(t, url)
	c.next("snapshot", isType("snapshot"))
	for range 40 {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
			break // already closed by the server
		}
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Fatalf("connection ended with %v, want a policy-violation close", err)
		}
		return
	}
}

func dialWith(t testing.TB, url string, h http.Header) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}
