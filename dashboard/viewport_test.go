package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

func testHub(t testing.TB, cfg HubConfig, initial []Item) (*Hub, string) {
	t.Helper()
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 10 * time.Second
	}
	cfg.WriteTimeout, cfg.MaxMessage, cfg.FlushInterval = 5*time.Second, 16<<10, 5*time.Millisecond
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 1 << 20
	}
	if cfg.ClusterBelowZoom == 0 {
		cfg.ClusterBelowZoom = 13
	}
	if cfg.ClusterInterval == 0 {
		cfg.ClusterInterval = 20 * time.Millisecond
	}
	h := NewHub(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry(), func() []Item { return initial })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx)
	}()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return h, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func item(id, kind, typ string, lon, lat float64) Item {
	return Item{ID: id, Kind: kind, Type: typ, TS: "2026-03-01T07:00:00+07:00", Location: &[2]float64{lon, lat}}
}

type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

func dial(t testing.TB, url string) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads frames until one satisfies ok, failing after 5 s.
func (c *wsClient) next(what string, ok func(Frame) bool) Frame {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	_ = c.conn.SetReadDeadline(deadline)
	for {
		var f Frame
		if err := c.conn.ReadJSON(&f); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(f) {
			return f
		}
	}
}

func ids(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	slices.Sort(out)
	return out
}

func isType(typ string) func(Frame) bool { return func(f Frame) bool { return f.Type == typ } }

// Two clients with disjoint viewports each receive only their own entities; an entity moving from
// one view to the other leaves the first and enters the second.
func TestViewportsAreDisjoint(t *testing.T) {
	west := []Item{item("w1", "salinity", stream.TypeTelemetry, 106.10, 10.10), item("w2", "camera", stream.TypeCamera, 106.15, 10.12)}
	east := []Item{item("e1", "salinity", stream.TypeTelemetry, 106.60, 10.10), item("e2", "rain", stream.TypeTelemetry, 106.65, 10.15)}
	h, url := testHub(t, HubConfig{}, append(slices.Clone(west), east...))
	a, b := dial(t, url), dial(t, url)
	for _, c := range []*wsClient{a, b} {
		if f := c.next("legacy snapshot", isType("snapshot")); len(f.Items) != 4 {
			t.Fatalf("first snapshot (before subscribing) has %d items, want all 4", len(f.Items))
		}
	}
	a.send(`{"type":"subscribe","bbox":[106.0,10.0,106.3,10.3],"zoom":14}`)
	b.send(`{"type":"subscribe","bbox":[106.5,10.0,106.8,10.3],"zoom":14,"layers":["sensors","cameras"]}`)
	fa := a.next("viewport snapshot", isType("snapshot"))
	fb := b.next("viewport snapshot", isType("snapshot"))
	if got := ids(fa.Items); !slices.Equal(got, []string{"w1", "w2"}) || fa.Mode != "items" {
		t.Fatalf("west snapshot %v mode %s", got, fa.Mode)
	}
	if got := ids(fb.Items); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("east snapshot %v", got)
	}

	// Updates on both sides: each client sees only its own.
	u := item("w1", "salinity", stream.TypeTelemetry, 106.10, 10.10)
	u.Values = map[string]float64{"salinity": 4.2}
	h.Publish([]Item{u, item("e2", "rain", stream.TypeTelemetry, 106.65, 10.15), item("far", "rain", stream.TypeTelemetry, 108, 11)})
	if f := a.next("west update", isType("update")); !slices.Equal(ids(f.Items), []string{"w1"}) || f.Items[0].Values["salinity"] != 4.2 {
		t.Fatalf("west update %+v", f)
	}
	if f := b.next("east update", isType("update")); !slices.Equal(ids(f.Items), []string{"e2"}) {
		t.Fatalf("east update %v", ids(f.Items))
	}

	// w2 drives east: leave for the west client, enter for the east one.
	h.Publish([]Item{item("w2", "camera", stream.TypeCamera, 106.70, 10.20)})
	fa = a.next("leave", isType("update"))
	if len(fa.Items) != 0 || !slices.Equal(fa.Leave, []string{"w2"}) {
		t.Fatalf("west after the move: items %v leave %v, want leave [w2]", ids(fa.Items), fa.Leave)
	}
	fb = b.next("enter", isType("update"))
	if !slices.Equal(ids(fb.Items), []string{"w2"}) || len(fb.Leave) != 0 || (*fb.Items[0].Location)[0] != 106.70 {
		t.Fatalf("east after the move: %+v", fb)
	}
	// Moving inside the east view is an update there and nothing in the west.
	h.Publish([]Item{item("w2", "camera", stream.TypeCamera, 106.71, 10.21)})
	if f := b.next("move inside", isType("update")); !slices.Equal(ids(f.Items), []string{"w2"}) {
		t.Fatalf("east: %v", ids(f.Items))
	}
	// Nothing of that reached the west client: its next frame holds only the west sensor's news.
	h.Publish([]Item{u})
	if f := a.next("west marker", isType("update")); !slices.Equal(ids(f.Items), []string{"w1"}) || len(f.Leave) != 0 {
		t.Fatalf("west got %v leave %v, want only w1", ids(f.Items), f.Leave)
	}

	// A new subscribe replaces the old view: the west client pans east and gets all three there.
	a.send(`{"type":"subscribe","bbox":[106.5,10.0,106.8,10.3],"zoom":15}`)
	if f := a.next("snapshot after pan", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"e1", "e2", "w2"}) {
		t.Fatalf("after pan: %v", ids(f.Items))
	}
	// The filter: only the rain gauge.
	b.send(`{"type":"subscribe","bbox":[106.5,10.0,106.8,10.3],"zoom":15,"filter":{"kinds":["rain"]}}`)
	if f := b.next("filtered snapshot", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"e2"}) {
		t.Fatalf("filtered: %v", ids(f.Items))
	}
}

// A client that never subscribes keeps the old behaviour: the full snapshot and every update.
func TestUnsubscribedClientGetsEverything(t *testing.T) {
	h, url := testHub(t, HubConfig{}, []Item{item("a", "salinity", stream.TypeTelemetry, 106.1, 10.1)})
	c := dial(t, url)
	if f := c.next("snapshot", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"a"}) {
		t.Fatalf("snapshot %v", ids(f.Items))
	}
	h.Publish([]Item{item("a", "salinity", stream.TypeTelemetry, 120, 10), item("b", "rain", stream.TypeTelemetry, -70, -30)})
	got := map[string]bool{}
	for len(got) < 2 {
		f := c.next("update", isType("update"))
		if len(f.Leave) != 0 {
			t.Fatalf("leave sent to a client without a viewport: %v", f.Leave)
		}
		for _, it := range f.Items {
			got[it.ID] = true
		}
	}
}

// A zoomed-out client receives clusters whose counts add up to the entities in its view, with the
// worst active alarm severity, and fresh clusters when entities change.
func TestZoomedOutClientGetsClusters(t *testing.T) {
	var initial []Item
	kinds := []string{"salinity", "camera", "rain"}
	inView := map[string]int{}
	for i := range 300 {
		k := kinds[i%3]
		typ := stream.TypeTelemetry
		if k == "camera" {
			typ = stream.TypeCamera
		}
		lon, lat := 106.0+float64(i%30)*0.03, 9.8+float64(i/30)*0.06
		initial = append(initial, item(fmt.Sprintf("d%03d", i), k, typ, lon, lat))
		inView[k]++
	}
	alarm := func(id, sev, state string, lon, lat float64) Item {
		it := item(id, "alarm", stream.TypeAlarm, lon, lat)
		it.Attrs = map[string]string{"severity": sev, "state": state}
		return it
	}
	initial = append(initial, alarm("al1", "minor", "active_unack", 106.01, 9.81), alarm("al2", "critical", "active_ack", 106.02, 9.82),
		alarm("al3", "critical", "cleared_ack", 106.5, 10.2), item("out", "salinity", stream.TypeTelemetry, 108, 12))
	inView["alarm"] = 3
	h, url := testHub(t, HubConfig{}, initial)
	c := dial(t, url)
	c.next("legacy snapshot", isType("snapshot"))
	c.send(`{"type":"subscribe","bbox":[105.9,9.7,107.0,10.5],"zoom":9}`)
	f := c.next("cluster snapshot", isType("snapshot"))
	if f.Mode != "clusters" || len(f.Items) != 0 {
		t.Fatalf("mode %s with %d items, want clusters only", f.Mode, len(f.Items))
	}
	check := func(f Frame, want map[string]int) {
		t.Helper()
		total, sum := 0, map[string]int{}
		for _, cl := range f.Clusters {
			n := 0
			for k, v := range cl.Kinds {
				sum[k] += v
				n += v
			}
			if n != cl.Count {
				t.Fatalf("cluster %s: kinds %v add to %d, count %d", cl.ID, cl.Kinds, n, cl.Count)
			}
			total += cl.Count
			if cl.BBox[0] > cl.BBox[2] || cl.BBox[1] > cl.BBox[3] || cl.Center[0] < cl.BBox[0] || cl.Center[0] > cl.BBox[2] {
				t.Fatalf("cluster %s: bbox %v centre %v", cl.ID, cl.BBox, cl.Center)
			}
		}
		if fmt.Sprint(sum) != fmt.Sprint(want) {
			t.Fatalf("clusters count %v (total %d), want %v", sum, total, want)
		}
		if len(f.Clusters) >= total {
			t.Fatalf("%d clusters for %d entities: nothing was grouped", len(f.Clusters), total)
		}
	}
	check(f, inView)
	worst := ""
	for _, cl := range f.Clusters {
		if cl.Kinds["alarm"] > 0 && cl.Count > 0 && cl.Severity != "" {
			worst = cl.Severity
		}
		if cl.Severity != "" && cl.Kinds["alarm"] == 0 {
			t.Fatalf("cluster %s has a severity but no alarm", cl.ID)
		}
	}
	if worst != "critical" {
		t.Fatalf("worst severity %q, want critical (al2 is active; al3 is cleared)", worst)
	}
	// New entities in view show up in the next clusters frame; one outside does not count.
	h.Publish([]Item{item("new1", "rain", stream.TypeTelemetry, 106.3, 10.0), item("new2", "rain", stream.TypeTelemetry, 110, 10)})
	f = c.next("clusters refresh", isType("clusters"))
	inView["rain"]++
	check(f, inView)
}

// Bad subscribe frames get an error frame and the connection stays up.
func TestBadSubscribeGetsErrorFrame(t *testing.T) {
	_, url := testHub(t, HubConfig{}, []Item{item("a", "salinity", stream.TypeTelemetry, 106.1, 10.1)})
	c := dial(t, url)
	c.next("snapshot", isType("snapshot"))
	for _, tc := range []struct {
		name, frame, want string
	}{
		{"min > max", `{"type":"subscribe","bbox":[107,10,106,11],"zoom":10}`, "minLon 107 is greater than maxLon 106"},
		{"latitude out of range", `{"type":"subscribe","bbox":[106,-95,107,11],"zoom":10}`, "latitude -95 is outside ±90"},
		{"longitude out of range", `{"type":"subscribe","bbox":[106,10,181,11],"zoom":10}`, "longitude 181 is outside ±180"},
		{"NaN", `{"type":"subscribe","bbox":[NaN,10,107,11],"zoom":10}`, "invalid frame"},
		{"NaN as a string", `{"type":"subscribe","bbox":["NaN",10,107,11],"zoom":10}`, "invalid subscribe frame"},
		{"three numbers", `{"type":"subscribe","bbox":[106,10,107],"zoom":10}`, "got 3 numbers"},
		{"no bbox", `{"type":"subscribe","zoom":10}`, "bbox is required"},
		{"zoom too high", `{"type":"subscribe","bbox":[106,10,107,11],"zoom":30}`, "zoom 30 is outside 0–24"},
		{"negative zoom", `{"type":"subscribe","bbox":[106,10,107,11],"zoom":-1}`, "zoom -1 is outside"},
		{"no zoom", `{"type":"subscribe","bbox":[106,10,107,11]}`, "zoom is required"},
		{"unknown layer", `{"type":"subscribe","bbox":[106,10,107,11],"zoom":10,"layers":["boats"]}`, `unknown layer "boats"`},
		{"unknown filter key", `{"type":"subscribe","bbox":[106,10,107,11],"zoom":10,"filter":{"colour":"red"}}`, `unknown field "colour"`},
		{"not JSON", `{"type":"subscribe",`, "invalid frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.send(tc.frame)
			f := c.next("error frame", func(f Frame) bool { return true })
			if f.Type != "error" || !strings.Contains(f.Message, tc.want) {
				t.Fatalf("got %s %q, want an error mentioning %q", f.Type, f.Message, tc.want)
			}
		})
	}
	c.t = t
	c.send(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":14}`)
	if f := c.next("snapshot after errors", isType("snapshot")); !slices.Equal(ids(f.Items), []string{"a"}) {
		t.Fatalf("after errors: %v", ids(f.Items))
	}
}

func FuzzSubscribeFrame(f *testing.F) {
	f.Add([]byte(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":10,"layers":["sensors"],"filter":{"kinds":["rain"],"areas":["83"]}}`))
	f.Add([]byte(`{"type":"subscribe","bbox":[1e308,-1e308,0,0],"zoom":1e400}`))
	f.Add([]byte(`{"bbox":null,"zoom":null,"filter":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSubscribe(data, 13)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if s.bbox.Min[0] > s.bbox.Max[0] || s.bbox.Min[1] > s.bbox.Max[1] || s.bbox.Min[1] < -90 || s.bbox.Max[0] > 180 {
			t.Fatalf("accepted bad bbox %v", s.bbox)
		}
		if s.zoom < 0 || s.zoom > MaxZoom || s.clusters != (s.zoom < 13) {
			t.Fatalf("zoom %d clusters %v", s.zoom, s.clusters)
		}
		for _, l := range s.layerNames() {
			if !slices.Contains(Layers(), l) {
				t.Fatalf("accepted layer %q", l)
			}
		}
		if _, err := json.Marshal(Frame{BBox: bboxOf(s.bbox), Zoom: &s.zoom}); err != nil {
			t.Fatal(err)
		}
	})
}

// A client connecting with ?viewport=1 gets no full snapshot and nothing until it subscribes.
func TestViewportOnlyClient(t *testing.T) {
	h, url := testHub(t, HubConfig{}, []Item{item("a", "salinity", stream.TypeTelemetry, 106.1, 10.1)})
	c := dial(t, url+"?viewport=1")
	if f := c.next("empty snapshot", isType("snapshot")); f.Mode != "viewport" || len(f.Items) != 0 {
		t.Fatalf("first frame: mode %q with %d items", f.Mode, len(f.Items))
	}
	h.Publish([]Item{item("a", "salinity", stream.TypeTelemetry, 106.2, 10.2)})
	time.Sleep(100 * time.Millisecond) // an update would have been flushed by now
	c.send(`{"type":"subscribe","bbox":[106,10,107,11],"zoom":14}`)
	f := c.next("any frame", func(Frame) bool { return true })
	if f.Type != "snapshot" || !slices.Equal(ids(f.Items), []string{"a"}) || (*f.Items[0].Location)[0] != 106.2 {
		t.Fatalf("first frame after subscribing: %+v", f)
	}
}
