package dashboard

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

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
	Type    string `json:"type"` // snapshot | update | error
	Seq     uint64 `json:"seq"`
	Items   []Item `json:"items,omitempty"`
	Message string `json:"message,omitempty"`
}

// HubConfig configures the live hub.
type HubConfig struct {
	PingInterval   time.Duration
	WriteTimeout   time.Duration
	MaxMessage     int64         // largest frame read from a browser
	MaxPending     int           // entities waiting for one client before it is cut off as too slow
	FlushInterval  time.Duration // least time between two update frames to one client
	AllowedOrigins []string      // besides the request's own host
}

// Hub pushes entity changes to websocket clients. One goroutine (Run) owns the client set. Publish
// merges changes into a pending set (latest state per entity wins) and wakes Run, which hands them to
// every client's own pending set; each client's write pump sends what accumulated as one frame, so a
// slow client receives coalesced updates and never holds more than one state per entity.
type Hub struct {
	cfg      HubConfig
	log      *slog.Logger
	snapshot func() []Item
	upgrader websocket.Upgrader
	m        hubMetrics

	mu      sync.Mutex // guards pending
	pending map[string]Item
	wake    chan struct{}

	register   chan *client
	unregister chan *client
	done       chan struct{}
}

type hubMetrics struct {
	clients prometheus.Gauge
	frames  *prometheus.CounterVec
	items   prometheus.Counter
	slow    prometheus.Counter
}

// NewHub builds a hub; snapshot returns the current state of every entity for new clients.
func NewHub(cfg HubConfig, log *slog.Logger, reg prometheus.Registerer, snapshot func() []Item) *Hub {
	h := &Hub{cfg: cfg, log: log.With("component", "live"), snapshot: snapshot,
		pending: map[string]Item{}, wake: make(chan struct{}, 1),
		register: make(chan *client), unregister: make(chan *client), done: make(chan struct{}),
		m: hubMetrics{
			clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_live_clients", Help: "Websocket clients connected to /api/v1/live."}),
			frames:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_live_frames_total", Help: "Frames sent to websocket clients, by type."}, []string{"type"}),
			items:   prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_items_sent_total", Help: "Entity states sent to websocket clients."}),
			slow:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_live_slow_clients_total", Help: "Clients cut off because they fell too far behind."}),
		}}
	if reg != nil {
		reg.MustRegister(h.m.clients, h.m.frames, h.m.items, h.m.slow)
	}
	h.upgrader = websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 16 << 10, CheckOrigin: h.checkOrigin,
		EnableCompression: false}
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

// Run owns the client set until ctx ends, then closes every connection.
func (h *Hub) Run(ctx context.Context) error {
	clients := map[*client]bool{}
	var seq uint64
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
			c.start(Frame{Type: "snapshot", Seq: seq, Items: h.snapshot()})
		case c := <-h.unregister:
			if clients[c] {
				delete(clients, c)
				h.m.clients.Set(float64(len(clients)))
			}
		case <-h.wake:
			h.mu.Lock()
			batch := h.pending
			h.pending = make(map[string]Item, len(batch))
			h.mu.Unlock()
			if len(batch) == 0 {
				continue
			}
			seq++
			for c := range clients {
				if !c.offer(seq, batch, h.cfg.MaxPending) {
					h.m.slow.Inc()
					delete(clients, c)
					h.m.clients.Set(float64(len(clients)))
					c.close(websocket.ClosePolicyViolation, "quá chậm / client too slow")
				}
			}
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
	c := &client{hub: h, conn: conn, pending: map[string]Item{}, notify: make(chan struct{}, 1),
		ctrl: make(chan Frame, 8), quit: make(chan struct{})}
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

	mu      sync.Mutex // guards pending, seq
	pending map[string]Item
	seq     uint64
	notify  chan struct{}
	ctrl    chan Frame // frames that must not be coalesced (snapshot, errors)

	closeOnce sync.Once
	quit      chan struct{}
}

func (c *client) start(snapshot Frame) {
	c.ctrl <- snapshot
	go c.writePump()
	go c.readPump()
}

// offer merges a batch into the client's pending set; false means the client is too far behind.
func (c *client) offer(seq uint64, batch map[string]Item, maxPending int) bool {
	c.mu.Lock()
	for id, it := range batch {
		c.pending[id] = it
	}
	c.seq = seq
	n := len(c.pending)
	c.mu.Unlock()
	if n > maxPending {
		return false
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

func (c *client) close(code int, reason string) {
	c.closeOnce.Do(func() {
		close(c.quit)
		deadline := time.Now().Add(time.Second)
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
		c.conn.Close()
	})
}

func (c *client) leave() {
	select {
	case c.hub.unregister <- c:
	case <-c.hub.done:
	}
	c.close(websocket.CloseNormalClosure, "")
}

func (c *client) writePump() {
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	defer c.leave()
	var last time.Time
	for {
		select {
		case <-c.quit:
			return
		case f := <-c.ctrl:
			if !c.write(f) {
				return
			}
		case <-c.notify:
			if wait := c.hub.cfg.FlushInterval - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-c.quit:
					return
				}
			}
			c.mu.Lock()
			items := make([]Item, 0, len(c.pending))
			for _, it := range c.pending {
				items = append(items, it)
			}
			clear(c.pending)
			seq := c.seq
			c.mu.Unlock()
			if len(items) == 0 {
				continue
			}
			last = time.Now()
			if !c.write(Frame{Type: "update", Seq: seq, Items: items}) {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
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

func (c *client) readPump() {
	defer c.leave()
	c.conn.SetReadLimit(c.hub.cfg.MaxMessage)
	deadline := func() { _ = c.conn.SetReadDeadline(time.Now().Add(2 * c.hub.cfg.PingInterval)) }
	deadline()
	c.conn.SetPongHandler(func(string) error { deadline(); return nil })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		deadline()
		var msg inbound
		if err := json.Unmarshal(data, &msg); err != nil {
			c.sendError("khung không hợp lệ / invalid frame: " + err.Error())
			continue
		}
		switch msg.Type {
		case "ping":
			// application-level keepalive from browsers that cannot send control frames
		default:
			c.sendError("loại khung không hỗ trợ / unsupported frame type: " + msg.Type)
		}
	}
}

func (c *client) sendError(msg string) {
	select {
	case c.ctrl <- Frame{Type: "error", Message: msg}:
	default: // the client is not reading its errors; drop rather than block the read pump
	}
}
