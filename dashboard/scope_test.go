package dashboard

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ioc-vn/ioc/stream"
)

// inArea is a salinity sensor at [lon, 10.1] in a district.
func inArea(id, district string, lon float64) Item {
	it := item(id, "salinity", stream.TypeTelemetry, lon, 10.1)
	it.Areas = map[string]string{"district": district}
	return it
}

// scopeHeader is a HubConfig.Allow that scopes a client to the district named in its X-Scope header.
func scopeHeader(r *http.Request) func(Item) bool {
	if scope := r.Header.Get("X-Scope"); scope != "" {
		return func(it Item) bool { return it.Areas["district"] == scope }
	}
	return nil
}

// A client whose filter (set at upgrade, e.g. an area-scoped operator) rejects an entity never
// receives it: not in the snapshot, not in updates, not in a viewport snapshot.
func TestClientFilterHidesOutOfScopeItems(t *testing.T) {
	h, url := testHub(t, HubConfig{Allow: scopeHeader}, []Item{inArea("ba-tri-1", "83-831", 106.6), inArea("mo-cay-1", "83-829", 106.3)})
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

// A scoped client's clusters count only the entities it may see, also when an unscoped client with
// the same viewport shares the hub's cluster tick, and its "leave" frames never name an entity it
// was not allowed to see.
func TestScopedViewportCountsAndLeavesOnlyInScope(t *testing.T) {
	h, url := testHub(t, HubConfig{Allow: scopeHeader}, []Item{inArea("in-1", "831", 106.60), inArea("in-2", "831", 106.61),
		inArea("out-1", "829", 106.62), inArea("out-2", "829", 106.63)})
	scoped := dialWith(t, url, http.Header{"X-Scope": {"831"}})
	all := dial(t, url)
	count := func(f Frame) int {
		n := 0
		for _, c := range f.Clusters {
			n += c.Count
		}
		return n
	}
	for _, c := range []*wsClient{scoped, all} {
		c.next("snapshot", isType("snapshot"))
		c.send(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":8}`)
	}
	if f := scoped.next("scoped clusters", isType("snapshot")); f.Mode != "clusters" || count(f) != 2 {
		t.Fatalf("scoped cluster snapshot: mode %s, %d entities, want clusters of 2", f.Mode, count(f))
	}
	if f := all.next("clusters", isType("snapshot")); count(f) != 4 {
		t.Fatalf("unscoped cluster snapshot counts %d entities, want 4", count(f))
	}
	// A change both views see: both are recomputed on the same tick.
	h.Publish([]Item{inArea("in-2", "831", 106.611)})
	if f := scoped.next("scoped recomputed clusters", isType("clusters")); count(f) != 2 {
		t.Fatalf("scoped clusters after a change count %d, want 2", count(f))
	}
	if f := all.next("recomputed clusters", isType("clusters")); count(f) != 4 {
		t.Fatalf("unscoped clusters after a change count %d, want 4", count(f))
	}

	scoped.send(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":15}`)
	if f := scoped.next("viewport snapshot", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"in-1", "in-2"}) {
		t.Fatalf("scoped viewport snapshot %v", ids(f.Items))
	}
	h.Publish([]Item{inArea("out-1", "829", 108.5), inArea("in-1", "831", 108.5)}) // both leave the view
	for {
		f := scoped.next("leave of in-1", isType("update"))
		for _, id := range append(ids(f.Items), f.Leave...) {
			if strings.HasPrefix(id, "out-") {
				t.Fatalf("scoped client was told about %s: items %v leave %v", id, ids(f.Items), f.Leave)
			}
		}
		if slices.Contains(f.Leave, "in-1") {
			break
		}
	}
}
