package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/rtree"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/registry"
)

// Item is one entity's latest state as sent to browsers. Location is [lon, lat], absent when unknown.
type Item struct {
	ID         string             `json:"id"`
	Kind       string             `json:"kind"`
	Type       string             `json:"type"`
	Name       string             `json:"name,omitempty"`
	TS         string             `json:"ts"`
	Location   *[2]float64        `json:"location"`
	Registered bool               `json:"registered"`
	Values     map[string]float64 `json:"values,omitempty"`
	Attrs      map[string]string  `json:"attrs,omitempty"`
	Areas      map[string]string  `json:"areas,omitempty"`
}

// ItemOf converts a registry entity to an Item; times are RFC 3339 with the Asia/Ho_Chi_Minh offset.
func ItemOf(e registry.Entity) Item {
	it := Item{ID: e.ID, Kind: e.Kind, Type: e.Type, Name: e.Name, Registered: e.Registered,
		Values: e.Values, Attrs: e.Attrs, Areas: e.Areas}
	if !e.Time.IsZero() {
		it.TS = e.Time.In(VietnamTime).Format(time.RFC3339Nano)
	}
	if e.HasLocation {
		it.Location = &[2]float64{e.Location[0], e.Location[1]}
	}
	return it
}

// Frame is a message on /api/v1/live.
type Frame struct {
	Type     string        `json:"type"` // snapshot | update | clusters | error
	Seq      uint64        `json:"seq"`
	Mode     string        `json:"mode,omitempty"` // after a subscribe: items | clusters
	BBox     *[4]float64   `json:"bbox,omitempty"` // the subscription's viewport
	Zoom     *int          `json:"zoom,omitempty"`
	Items    []Item        `json:"items,omitempty"`
	Leave    []string      `json:"leave,omitempty"`    // IDs that moved out of the viewport (or out of its filter)
	Clusters []ClusterItem `json:"clusters,omitempty"` // at low zoom: the whole viewport, replacing earlier clusters
	Message  string        `json:"message,omitempty"`
	Ref      string        `json:"ref,omitempty"`    // result: the ref of the action frame answered
	Status   int           `json:"status,omitempty"` // result: HTTP-like status of the action (200, 400, 403, 404, 409)
	Result   any           `json:"result,omitempty"` // result: what the action returned (the changed alarm)
}

// Action is an operator action sent over the websocket:
// {"type":"action","ref":"a1","target":"alarm","id":"ALM-…","action":"ack","note":"…"}.
type Action struct {
	Ref      string `json:"ref"`
	Target   string `json:"target"` // alarm
	ID       string `json:"id"`
	Action   string `json:"action"` // ack | clear | assign | comment
	Note     string `json:"note"`
	Assignee string `json:"assignee"`
	Text     string `json:"text"`
}

// ActionFunc performs an action for the user of one connection; it returns what changed, or an error
// carrying a status (an *httpapi.Error) that is sent back in the result frame.
type ActionFunc func(ctx context.Context, a Action) (any, error)

// HubConfig configures the live hub.
type HubConfig struct {
	PingInterval   time.Duration
	WriteTimeout   time.Duration
	MaxMessage     int64         // largest frame read from a browser
	MaxPending     int           // entities waiting for one client before it is cut off as too slow
	FlushInterval  time.Duration // least time between two update frames to one client
	AllowedOrigins []string      // besides the request's own host
	// Allow, when set, is asked at upgrade for the client's item filter: items it rejects are never
	// sent to that client (area-scoped operators). A nil filter sends everything.
	Allow func(r *http.Request) func(Item) bool
	// Actions, when set, is asked at upgrade for the function that performs the connection's operator
	// actions ({"type":"action"}); nil (or a nil answer) refuses them with 403.
	Actions func(r *http.Request) ActionFunc
	// Recheck, when set, is asked at upgrade for a check that the connection's credential still holds
	// (nil: none). Every PingInterval the hub's pinger runs it and closes a connection whose answer is
	// false with 1008, so a sign-out, a revoked token or a disabled user ends the feed within one
	// interval.
	Recheck func(r *http.Request) func(ctx context.Context) bool
	// MessageRate bounds frames read from one browser per second (burst twice that); a client above it
	// is disconnected. 0 means 10.
	MessageRate float64
	// Viewport subscriptions: below ClusterBelowZoom clients get clusters, recomputed at most every
	// ClusterInterval when something in their view changed; a view at higher zoom holding more than
	// MaxViewItems entities is sent as clusters too.
	ClusterBelowZoom int
	ClusterInterval  time.Duration
	MaxViewItems     int
}

// Hub pushes entity changes to websocket clients. One goroutine (Run) owns the client set, the
// clients' subscriptions and the writes to the spatial index of entities. Publish merges changes into
// a pending set (latest state per entity wins) and wakes Run, which moves them into the index and
// hands them to every client's own pending set; each client's write pump sends what accumulated as one
// frame, so a slow client receives coalesced updates and never holds more than one state per entity.
//
// A client that never subscribes gets the full snapshot and every update. A client that sends
// {"type":"subscribe",…} gets a snapshot of its viewport, then only changes inside it, "leave" for
// entities that moved out, or clusters at low zoom. Because only Run changes the index, a
// subscription's snapshot and the updates after it are computed from the same state.
type Hub struct {
	cfg      HubConfig
	log      *slog.Logger
	snapshot func() []Item
	upgrader websocket.Upgrader
	m        hubMetrics
	index    *geo.Index[Item] // located entities as last distributed; written only by Run

	mu      sync.Mutex // guards pending
	pending map[string]Item
	wake    chan struct{}

	register   chan *client
	unregister chan *client
	subscribe  chan subscribeReq
	done       chan struct{}
}

type subscribeReq struct {
	c   *client
	sub *subscription
}

type hubMetrics struct {
	clients prometheus.Gauge
	frames  *prometheus.CounterVec
	updates prometheus.Counter // frames{type="update"}, looked up once
	encode  prometheus.Counter // items that could not be encoded
	items   prometheus.Counter
	slow    prometheus.Counter
	subs    *prometheus.CounterVec
	limited prometheus.Counter
	actions *prometheus.CounterVec
}

// NewHub builds a hub; snapshot returns the current state of every entity for new clients.
func NewHub(cfg HubConfig, log *slog.Logger, reg prometheus.Registerer, snapshot func() []Item) *Hub {
	h := &Hub{cfg: cfg, log: log.With("component", "live"), snapshot: snapshot,
		pending: map[string]Item{}, wake: make(chan struct{}, 1),
		register: make(chan *client), unregister: make(chan *client), subscribe: make(chan subscribeReq),
		done: make(chan struct{}), index: geo.NewIndex[Item](),
		m: hubMetrics{
			clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_live_clients", Help: "Websocket clients connected to /api/v1/live."}),
			frames:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_live_frames_total", Help: "Frames sent to websocket clients, by type."}, []string{"type"}),
			items:   prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_items_sent_total", Help: "Entity states sent to websocket clients."}),
			slow:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_slow_clients_total", Help: "Clients cut off because they fell too far behind."}),
			subs:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_live_subscribe_frames_total", Help: "Viewport subscribe frames received, by result (ok, invalid)."}, []string{"result"}),
		}}
	h.m.limited = prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_rate_limited_total", Help: "Clients disconnected for sending frames faster than live message_rate."})
	h.m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_live_actions_total", Help: "Operator actions received over the websocket, by result status."}, []string{"status"})
	h.m.encode = prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_items_unencodable_total", Help: "Entity states left out of live updates because they cannot be encoded as JSON."})
	h.m.updates = h.m.frames.WithLabelValues("update")
	if reg != nil {
		reg.MustRegister(h.m.clients, h.m.frames, h.m.items, h.m.slow, h.m.subs, h.m.limited, h.m.actions, h.m.encode)
	}
	if h.cfg.MessageRate <= 0 {
		h.cfg.MessageRate = 10
	}
	if h.cfg.ClusterInterval <= 0 {
		h.cfg.ClusterInterval = time.Second
	}
	if h.cfg.MaxViewItems <= 0 {
		h.cfg.MaxViewItems = 20000
	}
	// Write buffers come from a pool and go back after each frame, so an idle connection holds none:
	// memory per connection stays small with thousands of idle dashboards.
	h.upgrader = websocket.Upgrader{ReadBufferSize: 256, WriteBufferSize: 16 << 10, WriteBufferPool: &sync.Pool{},
		CheckOrigin: h.checkOrigin, EnableCompression: false}
	return h
}

// Publish queues changed entities for every client. It never blocks on clients.
func (h *Hub) Publish(items []Item) {
	h.mu.Lock()
	for _, it := range items {
		h.pending[it.ID] = it
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// PublishEntities adapts registry entities to Publish.
func (h *Hub) PublishEntities(es []registry.Entity) {
	items := make([]Item, len(es))
	for i, e := range es {
		items[i] = ItemOf(e)
	}
	h.Publish(items)
}

// Entities is the spatial index of located entities as last sent to clients, for HTTP queries.
func (h *Hub) Entities() *geo.Index[Item] { return h.index }

// Run owns the client set until ctx ends, then closes every connection.
func (h *Hub) Run(ctx context.Context) error {
	clients := map[*client]bool{}
	var seq uint64
	for _, it := range h.snapshot() {
		if it.Location != nil {
			h.index.Set(it.ID, orb.Point(*it.Location), it)
		}
	}
	views := &viewIndex{}
	// Reused from batch to batch by the wake case below.
	var (
		spare = map[string]Item{}
		moves []move
		items []*liveItem
		fan   fanout
	)
	tick := time.NewTicker(h.cfg.ClusterInterval)
	defer tick.Stop()
	pingTick := time.NewTicker(h.cfg.PingInterval)
	defer pingTick.Stop()
	defer func() {
		close(h.done)
		for c := range clients {
			c.close(websocket.CloseGoingAway, "máy chủ dừng / server shutting down")
		}
		h.m.clients.Set(0)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-h.register:
			clients[c] = true
			h.m.clients.Set(float64(len(clients)))
			if c.sub != nil {
				c.start(Frame{Type: "snapshot", Seq: seq, Mode: "viewport", Items: []Item{}})
				continue
			}
			c.start(Frame{Type: "snapshot", Seq: seq, Items: h.snapshot()})
		case c := <-h.unregister:
			if clients[c] {
				delete(clients, c)
				views.remove(c)
				h.m.clients.Set(float64(len(clients)))
			}
		case r := <-h.subscribe:
			if clients[r.c] {
				views.remove(r.c)
				r.c.sub = r.sub
				r.c.view(h.viewFrame(r.sub, seq))
				views.add(r.c)
			}
		case <-pingTick.C:
			list := make([]*client, 0, len(clients))
			for c := range clients {
				list = append(list, c)
			}
			go h.ping(list)
		case <-tick.C:
			cache := map[string][]ClusterItem{}
			for c := range clients {
				if c.sub == nil || !c.sub.clusters || !c.dirty {
					continue
				}
				cs, ok := cache[c.sub.cacheKey()]
				if !ok {
					cs = clustersOf(h.index, c.sub)
					cache[c.sub.cacheKey()] = cs
				}
				c.dirty = false
				c.view(Frame{Type: "clusters", Seq: seq, Mode: "clusters", Zoom: &c.sub.zoom, BBox: bboxOf(c.sub.bbox), Clusters: cs})
			}
		case <-h.wake:
			// The pending set is double-buffered: Publish fills one map while Run distributes the other.
			h.mu.Lock()
			batch := h.pending
			h.pending = spare
			h.mu.Unlock()
			spare = batch
			if len(batch) == 0 {
				continue
			}
			seq++
			moves = h.apply(batch, moves[:0])
			clear(batch)
			items = items[:0]
			for i := range moves {
				items = append(items, &liveItem{Item: moves[i].cur})
			}
			for c := range clients {
				if c.sub == nil {
					c.addAll(items)
					fan.touch(c)
				}
			}
			views.route(moves, items, &fan)
			for _, c := range fan.touched {
				c.touched = false
				if !c.ready(seq, h.cfg.MaxPending) {
					h.m.slow.Inc()
					delete(clients, c)
					views.remove(c)
					h.m.clients.Set(float64(len(clients)))
					c.close(websocket.ClosePolicyViolation, "quá chậm / client too slow")
				}
			}
			clear(fan.touched) // drop the client pointers until the next batch
			fan.touched = fan.touched[:0]
			clear(items)
			clear(moves)
		}
	}
}

// move is an entity's state before and after a batch.
type move struct {
	prev Item
	had  bool // prev is meaningful
	cur  Item
}

// apply writes a batch into the index and appends each entity's previous and new state to moves.
func (h *Hub) apply(batch map[string]Item, moves []move) []move {
	for id, it := range batch {
		m := move{cur: it}
		if it.Location != nil {
			_, m.prev, m.had = h.index.Set(id, orb.Point(*it.Location), it)
		} else if _, prev, ok := h.index.Get(id); ok {
			m.prev, m.had = prev, true
			m.cur.Location = prev.Location // a state without a position keeps the known one
			h.index.Set(id, orb.Point(*prev.Location), m.cur)
		}
		moves = append(moves, m)
	}
	return moves
}

// viewIndex is an R-tree of the subscribed clients' viewports, so a batch reaches the clients whose
// view holds an entity's new or previous position without testing every client. Owned by Run.
type viewIndex struct {
	tree rtree.RTreeG[*client]
}

func (v *viewIndex) add(c *client) {
	if s := c.sub; s != nil && !s.none {
		v.tree.Insert(s.bbox.Min, s.bbox.Max, c)
	}
}

func (v *viewIndex) remove(c *client) {
	if s := c.sub; s != nil && !s.none {
		v.tree.Delete(s.bbox.Min, s.bbox.Max, c)
	}
}

// fanout collects the clients a batch reached, so that only they are checked and woken. Owned by
// Run and reused from batch to batch.
type fanout struct {
	touched []*client
}

func (f *fanout) touch(c *client) {
	if !c.touched {
		c.touched = true
		f.touched = append(f.touched, c)
	}
}

// route hands each subscribed client the entities now in its view (items[i] is moves[i]'s new state)
// and the IDs of those that left it; a clustered view is only marked dirty (its clusters are
// recomputed on the cluster tick).
func (v *viewIndex) route(moves []move, items []*liveItem, f *fanout) {
	for i := range moves {
		m := &moves[i]
		if m.cur.Location != nil {
			p := orb.Point(*m.cur.Location)
			v.tree.Search(p, p, func(_, _ [2]float64, c *client) bool {
				switch {
				case c.sub.clusters:
					c.dirty = c.dirty || c.sub.wants(&m.cur)
				case c.sub.wants(&m.cur):
					c.add(items[i])
					f.touch(c)
				}
				return true
			})
		}
		if m.had && m.prev.Location != nil {
			p := orb.Point(*m.prev.Location)
			v.tree.Search(p, p, func(_, _ [2]float64, c *client) bool {
				switch {
				case c.sub.clusters:
					c.dirty = c.dirty || c.sub.wants(&m.prev)
				case c.sub.wants(&m.prev) && !c.sub.shows(&m.cur):
					c.remove(m.cur.ID)
					f.touch(c)
				}
				return true
			})
		}
	}
}

// viewFrame is the snapshot answering a subscription: the entities in view, or its clusters when the
// zoom is low or the view holds more than MaxViewItems entities (then the subscription stays
// clustered until the next subscribe).
func (h *Hub) viewFrame(s *subscription, seq uint64) Frame {
	f := Frame{Type: "snapshot", Seq: seq, Zoom: &s.zoom, BBox: bboxOf(s.bbox), Mode: "items", Items: []Item{}}
	if !s.clusters {
		h.index.Search(s.bbox, func(_ string, _ orb.Point, it Item) bool {
			if s.wants(&it) {
				f.Items = append(f.Items, it)
			}
			return len(f.Items) <= h.cfg.MaxViewItems
		})
		if len(f.Items) <= h.cfg.MaxViewItems {
			slices.SortFunc(f.Items, func(a, b Item) int { return strings.Compare(a.ID, b.ID) })
			return f
		}
		s.clusters = true
	}
	f.Mode, f.Items, f.Clusters = "clusters", nil, clustersOf(h.index, s)
	return f
}

func bboxOf(b orb.Bound) *[4]float64 { return &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]} }

// ping sends a ping to every listed client (the read pump's deadline is extended by the pong); a
// client whose ping cannot be written is disconnected. It runs off the hub goroutine: a slow socket
// delays only the pings after it.
func (h *Hub) ping(list []*client) {
	for _, c := range list {
		if !c.stillValid(h.cfg.WriteTimeout) {
			c.close(websocket.ClosePolicyViolation, "phiên đăng nhập đã kết thúc / signed out or access revoked")
			continue // the read pump sees the closed connection and unregisters the client
		}
		if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.cfg.WriteTimeout)); err != nil {
			c.leave()
		}
	}
}

func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: browsers always send Origin on websocket upgrades
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.Contains(h.cfg.AllowedOrigins, origin)
}

// ServeHTTP upgrades GET /api/v1/live to a websocket.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error (403 for a foreign origin)
	}
	c := &client{hub: h, conn: conn, notify: make(chan struct{}, 1),
		ctrl: make(chan *Frame, 8), quit: make(chan struct{})}
	if h.cfg.Allow != nil {
		c.allow = h.cfg.Allow(r)
	}
	if h.cfg.Actions != nil {
		c.act = h.cfg.Actions(r)
	}
	if h.cfg.Recheck != nil {
		c.recheck = h.cfg.Recheck(r)
	}
	if r.URL.Query().Get("viewport") == "1" {
		c.sub = &subscription{none: true} // it will subscribe: no full snapshot, nothing until then
	}
	select {
	case h.register <- c:
	case <-h.done:
		conn.Close()
	}
}

// client is one websocket connection. Its pending set is filled by the hub goroutine and drained by
// the write pump; the read pump handles pongs and browser messages.
type client struct {
	hub  *Hub
	conn *websocket.Conn

	mu      sync.Mutex           // guards pending, gone, latest, seq, writing
	writing bool                 // a write pump is running; it stops when nothing is queued
	last    time.Time            // when the last update frame went out; used by the running write pump only
	pending map[string]*liveItem // allocated at the first update, so an idle client holds none
	gone    map[string]bool
	latest  *Frame // a viewport snapshot or clusters frame not yet sent; a newer one replaces it
	seq     uint64
	notify  chan struct{}
	ctrl    chan *Frame // frames that must not be coalesced (snapshot, errors); pointers keep the buffer small

	sub     *subscription // owned by the hub goroutine; nil: everything
	dirty   bool          // owned by the hub goroutine: clusters need recomputing
	touched bool          // owned by the hub goroutine: in the current batch's fanout

	allow func(Item) bool // nil: every item; set at upgrade, read-only afterwards
	act   ActionFunc      // nil: actions refused; set at upgrade, read-only afterwards
	lim   frameBudget     // inbound frames; used by the read pump only

	recheck func(ctx context.Context) bool // does the credential still hold (nil: unchecked); set at upgrade

	closeOnce sync.Once
	quit      chan struct{}
}

// allowed keeps the items the client may see (a new slice when some are dropped).
func (c *client) allowed(items []Item) []Item {
	if c.allow == nil {
		return items
	}
	out := make([]Item, 0, len(items))
	for _, it := range items {
		if c.allow(it) {
			out = append(out, it)
		}
	}
	return out
}

func (c *client) start(snapshot Frame) {
	snapshot.Items = c.allowed(snapshot.Items)
	c.ctrl <- &snapshot
	c.kick()
	// Set up here, before the read pump starts, to keep that out of the pump's stack frame.
	c.conn.SetReadLimit(c.hub.cfg.MaxMessage)
	c.extendDeadline()
	c.conn.SetPongHandler(c.pong)
	go c.readPump()
}

// kick makes sure a write pump runs. The pump stops when nothing is queued, so an idle connection
// costs one goroutine (its read pump), not two; pings come from the hub's pinger.
func (c *client) kick() {
	c.mu.Lock()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.writePump()
	}
}

// addAll queues the items the client may see (an unsubscribed client gets every batch whole).
func (c *client) addAll(items []*liveItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		c.addLocked(it)
	}
}

// add queues one entity state for the client; a later state of the same entity replaces it.
func (c *client) add(it *liveItem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(it)
}

func (c *client) addLocked(it *liveItem) {
	if c.allow != nil && !c.allow(it.Item) {
		return
	}
	if c.pending == nil {
		c.pending = map[string]*liveItem{}
	}
	c.pending[it.ID] = it
	delete(c.gone, it.ID)
}

// remove queues a "leave" for an entity that moved out of the client's view.
func (c *client) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, id)
	if c.gone == nil {
		c.gone = map[string]bool{}
	}
	c.gone[id] = true
}

// ready ends a batch for the client: it records the batch's sequence number and wakes the writer;
// false means the client is too far behind.
func (c *client) ready(seq uint64, maxPending int) bool {
	c.mu.Lock()
	c.seq = seq
	n := len(c.pending) + len(c.gone)
	c.mu.Unlock()
	if n > maxPending {
		return false
	}
	c.wakeWriter()
	return true
}

// view queues a viewport snapshot or clusters frame. It supersedes whatever was pending: the frame
// describes the whole view as of now, and later offers add to it.
func (c *client) view(f Frame) {
	if f.Items != nil {
		f.Items = c.allowed(f.Items)
	}
	c.mu.Lock()
	c.latest = &f
	clear(c.pending)
	clear(c.gone)
	c.mu.Unlock()
	c.wakeWriter()
}

func (c *client) wakeWriter() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
	c.kick()
}

// stillValid runs the client's credential check, bounded by timeout.
func (c *client) stillValid(timeout time.Duration) bool {
	if c.recheck == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.recheck(ctx)
}

func (c *client) close(code int, reason string) {
	c.closeOnce.Do(func() {
		close(c.quit)
		deadline := time.Now().Add(time.Second)
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
		c.conn.Close()
	})
}

// leave unregisters the client and closes its connection. Not inlined: its select would enlarge the
// read pump's stack frame, which an idle connection keeps for its whole life.
//
//go:noinline
func (c *client) leave() {
	select {
	case c.hub.unregister <- c:
	case <-c.hub.done:
	}
	c.close(websocket.CloseNormalClosure, "")
}

// pumpLinger is how long a write pump waits for more before it stops: a client receiving updates
// keeps its pump (and the stack it grew) instead of starting one per frame.
const pumpLinger = time.Second

// writePump sends queued frames until none has come for pumpLinger, then stops (kick starts it
// again). Update frames are at least FlushInterval apart. A failed write ends the connection.
func (c *client) writePump() {
	linger := time.NewTimer(pumpLinger)
	defer linger.Stop()
	var pace *time.Timer
	for {
		select {
		case <-c.quit:
			return
		case f := <-c.ctrl:
			if !c.write(*f) {
				c.leave()
				return
			}
		case <-c.notify:
			// Control frames queued before go first: a viewport client's first (empty) snapshot must
			// not follow, and so wipe, the viewport snapshot its subscribe asked for. (Both may be
			// ready at once when the pump starts late, and select picks at random.)
			if !c.writeControl() {
				c.leave()
				return
			}
			if wait := c.hub.cfg.FlushInterval - time.Since(c.last); wait > 0 {
				if pace == nil {
					pace = time.NewTimer(wait)
					defer pace.Stop()
				} else {
					pace.Reset(wait)
				}
				select {
				case <-pace.C:
				case <-c.quit:
					return
				}
			}
			if !c.flush() {
				c.leave()
				return
			}
		case <-linger.C:
			// Nothing queued for a while: stop, unless a producer queued something just now.
			c.mu.Lock()
			if len(c.ctrl) == 0 && len(c.notify) == 0 {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
		}
		linger.Reset(pumpLinger)
	}
}

// writeControl writes the control frames already queued; false when a write failed.
func (c *client) writeControl() bool {
	for {
		select {
		case f := <-c.ctrl:
			if !c.write(*f) {
				return false
			}
		default:
			return true
		}
	}
}

// itemLists are the slices take hands to flush; they go back after each frame.
var itemLists = sync.Pool{New: func() any { return new([]*liveItem) }}

// flush sends what accumulated: a queued view frame, then one update frame built from the items'
// cached encodings.
func (c *client) flush() bool {
	list := itemLists.Get().(*[]*liveItem)
	defer func() {
		clear(*list)
		*list = (*list)[:0]
		itemLists.Put(list)
	}()
	view, seq, leave := c.take(list)
	if view != nil && !c.write(*view) {
		return false
	}
	if len(*list) == 0 && len(leave) == 0 {
		return true
	}
	b := scratch.Get().(*bytes.Buffer)
	defer putScratch(b)
	b.Reset()
	n := appendUpdate(b, seq, *list, leave, c.hub.m.encode)
	if n == 0 && len(leave) == 0 {
		return true // nothing could be encoded
	}
	c.last = time.Now()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, b.Bytes()); err != nil {
		return false
	}
	c.hub.m.updates.Inc()
	c.hub.m.items.Add(float64(n))
	return true
}

// putScratch returns a buffer to the pool unless one huge frame made it too big to keep.
func putScratch(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		scratch.Put(b)
	}
}

// take empties the client's pending state: it returns a queued view frame, and appends the items
// gathered since to list and returns the update's sequence number and the IDs that left the view.
func (c *client) take(list *[]*liveItem) (view *Frame, seq uint64, leave []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	view, c.latest = c.latest, nil
	for _, it := range c.pending {
		*list = append(*list, it)
	}
	clear(c.pending)
	for id := range c.gone {
		leave = append(leave, id)
	}
	clear(c.gone)
	slices.Sort(leave)
	return view, c.seq, leave
}

func (c *client) write(f Frame) bool {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return false
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return false
	}
	if err := w.Close(); err != nil {
		return false
	}
	c.hub.m.frames.WithLabelValues(f.Type).Inc()
	c.hub.m.items.Add(float64(len(f.Items)))
	return true
}

// inbound is a message from a browser.
type inbound struct {
	Type string `json:"type"`
}

// readPump reads browser frames until the connection ends. It spends an idle connection's life
// parked in NextReader, so the loop keeps its own stack frame small and leaves the work to handle:
// the goroutine's stack is most of what an idle connection costs, and the runtime halves it only
// while little of it is in use.
func (c *client) readPump() {
	for {
		_, r, err := c.conn.NextReader()
		if err != nil || !c.handle(r) {
			break
		}
	}
	c.leave()
}

func (c *client) extendDeadline() {
	_ = c.conn.SetReadDeadline(time.Now().Add(2 * c.hub.cfg.PingInterval))
}

func (c *client) pong(string) error {
	c.extendDeadline()
	return nil
}

// handle reads and acts on one browser frame; false ends the connection.
func (c *client) handle(r io.Reader) bool {
	data, err := io.ReadAll(r)
	if err != nil {
		return false
	}
	c.extendDeadline()
	if !c.lim.allow(c.hub.cfg.MessageRate, time.Now()) {
		c.hub.m.limited.Inc()
		c.close(websocket.ClosePolicyViolation, "quá nhiều khung / too many frames")
		return false
	}
	var msg inbound
	if err := json.Unmarshal(data, &msg); err != nil {
		c.sendError("khung không hợp lệ / invalid frame: " + err.Error())
		return true
	}
	switch msg.Type {
	case "ping":
		// application-level keepalive from browsers that cannot send control frames
	case "subscribe":
		sub, err := parseSubscribe(data, c.hub.cfg.ClusterBelowZoom)
		if err != nil {
			c.hub.m.subs.WithLabelValues("invalid").Inc()
			c.sendError(err.Error())
			return true
		}
		c.hub.m.subs.WithLabelValues("ok").Inc()
		sub.scopeTo(c)
		select {
		case c.hub.subscribe <- subscribeReq{c: c, sub: sub}:
		case <-c.hub.done:
			return false
		case <-c.quit:
			return false
		}
	case "action":
		c.action(data)
	default:
		c.sendError("loại khung không hỗ trợ / unsupported frame type: " + msg.Type)
	}
	return true
}

// frameBudget is a token bucket over the frames a browser sends: rate a second, bursts of twice
// that (as rate.NewLimiter(rate, 2*rate) but without its lock and allocation: only the read pump
// uses it).
type frameBudget struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill; 0: never (the bucket starts full)
}

func (b *frameBudget) allow(rate float64, now time.Time) bool {
	t := now.UnixNano()
	if b.last == 0 {
		b.tokens = 2 * rate
	} else if t > b.last {
		b.tokens = min(2*rate, b.tokens+float64(t-b.last)/1e9*rate)
	}
	b.last = t
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// action performs an operator action and answers {"type":"result","ref":…,"status":…} with the
// changed object or the reason it was refused. It runs on the read pump: one action at a time per
// connection, bounded by the frame rate limit.
func (c *client) action(data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var frame struct {
		Type string `json:"type"`
		Action
	}
	if err := dec.Decode(&frame); err != nil {
		c.sendError("khung thao tác không hợp lệ / invalid action frame: " + err.Error())
		return
	}
	a := frame.Action
	res := Frame{Type: "result", Ref: a.Ref}
	if c.act == nil {
		res.Status, res.Message = http.StatusForbidden, "không có quyền thao tác / this connection may not act"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.WriteTimeout)
		out, err := c.act(ctx, a)
		cancel()
		var he *httpapi.Error
		switch {
		case err == nil:
			res.Status, res.Result = http.StatusOK, out
		case errors.As(err, &he):
			res.Status, res.Message = he.Status, he.Message
		default:
			res.Status, res.Message = http.StatusInternalServerError, "lỗi máy chủ / server error"
			c.hub.log.Error("websocket action failed", "target", a.Target, "action", a.Action, "error", err)
		}
	}
	c.hub.m.actions.WithLabelValues(strconv.Itoa(res.Status)).Inc()
	c.kick() // a running pump drains ctrl, so the send below cannot wait for ever
	select {
	case c.ctrl <- &res:
		c.kick()
	case <-c.quit:
	}
}

func (c *client) sendError(msg string) {
	select {
	case c.ctrl <- &Frame{Type: "error", Message: msg}:
		c.kick()
	default: // the client is not reading its errors; drop rather than block the read pump
	}
}
