package broker

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ackKey is the user property that tags a publish routed by ackHook, so that the broker can tell which
// inbound publish a delivery to an ioc subscriber belongs to. It never leaves the broker: OnPacketEncode
// strips it from every outgoing packet.
const ackKey = "ioc-deferred-ack"

// errNotRouted is why a publisher is disconnected when its publish could not be handed to ioc.
var errNotRouted = errors.New("publish not delivered to ioc's subscriber; disconnected so the client sends it again")

// ackHook makes the embedded broker acknowledge an inbound QoS 1 or 2 publish only after ioc stored it.
//
// mochi writes the PUBACK before it routes a message, and keeps everything in memory, so a crash right
// after lost what the device had been told was delivered. For a publish that an ioc subscriber (a watched
// client ID, whose collector acknowledges after its durable commit) takes at QoS ≥ 1, the hook instead
// routes the message itself through the inline client, tagged, and tells mochi not to acknowledge it.
// When every ioc subscriber it went to has acknowledged its copy, the PUBACK goes to the publisher, in
// the order its publishes arrived (MQTT 4.6). A QoS 2 publish waits in OnPublish and then lets mochi send
// PUBREC. A publish ioc does not take (no watched subscription matches, or only at QoS 0) is acknowledged
// by mochi as before.
//
// When a copy cannot reach an ioc subscriber (its window or write queue full, or its session ended) the
// publisher is disconnected without the acknowledgement, so it publishes again: at least once, and the
// stores' idempotent writes make that once.
//
// Lock order: h.mu before a queue's mu.
type ackHook struct {
	mqtt.HookBase
	b *Broker

	mu      sync.Mutex
	next    uint64
	byTag   map[string]*pendingAck     // tag → publish being routed or awaiting its subscribers
	waiting map[delivery]*pendingAck   // copy at an ioc subscriber → its publish
	queues  map[*mqtt.Client]*ackQueue // publisher → its acknowledgements, in arrival order
}

// delivery is one copy of a message in flight to a subscriber.
type delivery struct {
	client string
	id     uint16
}

// pendingAck is one inbound publish awaiting the acknowledgements of the ioc subscribers it went to.
type pendingAck struct {
	tag    string
	pub    *mqtt.Client
	ack    packets.Packet
	left   int           // copies not yet acknowledged
	sent   []delivery    // copies handed to ioc subscribers
	failed bool          // a copy was dropped before it reached its subscriber
	over   bool          // every copy acknowledged: done is closed
	done   chan struct{} // closed when left reaches 0 (QoS 2 waits on it)
	since  time.Time
}

// ackQueue holds one publisher's acknowledgements in the order its publishes arrived.
type ackQueue struct {
	mu      sync.Mutex
	items   []*pendingAck
	writing bool // a goroutine is writing the completed head of the queue
}

func newAckHook(b *Broker) *ackHook {
	return &ackHook{b: b, byTag: map[string]*pendingAck{}, waiting: map[delivery]*pendingAck{},
		queues: map[*mqtt.Client]*ackQueue{}}
}

func (h *ackHook) ID() string { return "ioc-ack-after-store" }

func (h *ackHook) Provides(b byte) bool {
	return slices.Contains([]byte{mqtt.OnPublish, mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped,
		mqtt.OnPublishDropped, mqtt.OnDisconnect, mqtt.OnPacketEncode}, b)
}

// OnPublish routes a publish for ioc itself and withholds mochi's acknowledgement.
func (h *ackHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.FixedHeader.Qos == 0 || h.b.watched(cl.ID) {
		return pk, nil
	}
	targets, ready := h.targets(pk.TopicName)
	for start := time.Now(); !ready; targets, ready = h.targets(pk.TopicName) {
		// An ioc subscriber is not connected and subscribed yet (ioc is starting or reconnecting): its
		// filters are unknown, so hold the publish rather than acknowledge what nobody took.
		if time.Since(start) > h.b.cfg.MaxWait || cl.Closed() {
			h.b.refused.Inc()
			h.b.srv.DisconnectClient(cl, packets.ErrServerUnavailable)
			return pk, packets.ErrRejectPacket
		}
		time.Sleep(time.Millisecond)
	}
	if targets == 0 {
		return pk, nil
	}
	p := h.route(cl, pk, targets)
	if p == nil {
		h.b.refused.Inc()
		h.b.srv.DisconnectClient(cl, packets.ErrImplementationSpecificError)
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Qos == 1 {
		return pk, packets.ErrRejectPacket // acknowledged by complete, once stored
	}
	// QoS 2: PUBREC once stored; mochi sends it and, the packet being ignored, routes nothing again.
	t := time.NewTimer(h.b.cfg.AckTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return pk, packets.CodeSuccessIgnore
	case <-t.C:
	}
	h.forget(p)
	h.b.refused.Inc()
	h.b.srv.DisconnectClient(cl, packets.ErrImplementationSpecificError)
	return pk, packets.ErrRejectPacket
}

// targets counts the watched subscribers that take topic at QoS ≥ 1. ready is false while a watched
// client is not connected with its subscriptions in place.
func (h *ackHook) targets(topic string) (n int, ready bool) {
	subs := h.b.srv.Topics.Subscribers(topic)
	for _, id := range h.b.cfg.Watch {
		cl, ok := h.b.srv.Clients.Get(id)
		if !ok || cl.Closed() || cl.State.Subscriptions.Len() == 0 {
			return 0, false
		}
		if s, ok := subs.Subscriptions[id]; ok && s.Qos > 0 {
			n++
		}
	}
	return n, true
}

// route hands a tagged copy of pk to every subscriber and records the copies at ioc's subscribers. It
// returns nil (and forgets the publish) when fewer than targets copies reached them.
func (h *ackHook) route(cl *mqtt.Client, pk packets.Packet, targets int) *pendingAck {
	inline, ok := h.b.srv.Clients.Get(mqtt.InlineClientId)
	if !ok {
		return nil
	}
	h.mu.Lock()
	if cl.Closed() { // its queue would outlive OnDisconnect; the publisher sends it again anyway
		h.mu.Unlock()
		return nil
	}
	h.next++
	p := &pendingAck{tag: strconv.FormatUint(h.next, 36), pub: cl, done: make(chan struct{}), since: time.Now(),
		ack: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}}
	h.byTag[p.tag] = p
	q := h.queues[cl]
	if q == nil && pk.FixedHeader.Qos == 1 {
		q = &ackQueue{}
		h.queues[cl] = q
	}
	h.mu.Unlock()
	if pk.FixedHeader.Qos == 1 {
		q.mu.Lock()
		q.items = append(q.items, p)
		q.mu.Unlock()
	}

	out := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: pk.FixedHeader.Qos,
		Retain: pk.FixedHeader.Retain}, TopicName: pk.TopicName, Payload: pk.Payload, PacketID: 1,
		Properties: pk.Properties.Copy(true)}
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false // resolved already; the alias is the publisher's
	out.Properties.User = append(out.Properties.User, packets.UserProperty{Key: ackKey, Val: p.tag})
	err := h.b.srv.InjectPacket(inline, out)

	h.mu.Lock()
	delete(h.byTag, p.tag)
	ok = err == nil && !p.failed && len(p.sent) == targets
	if ok {
		p.left += targets
		for _, d := range p.sent {
			if h.waiting[d] != p { // already acknowledged, before route counted it
				p.left--
			}
		}
	}
	h.mu.Unlock()
	if !ok {
		h.forget(p)
		return nil
	}
	h.check(p)
	return p
}

// OnQosPublish records a tagged copy going to an ioc subscriber (also when mochi resends it).
func (h *ackHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	tag, ok := tagOf(pk)
	if !ok || !h.b.watched(cl.ID) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.byTag[tag]; p != nil {
		d := delivery{cl.ID, pk.PacketID}
		p.sent = append(p.sent, d)
		h.waiting[d] = p
	}
}

// OnPublishDropped marks a publish whose copy to an ioc subscriber mochi dropped (its write queue full).
func (h *ackHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	tag, ok := tagOf(pk)
	if !ok || !h.b.watched(cl.ID) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.byTag[tag]; p != nil {
		p.failed = true
	}
}

// OnQosComplete counts an ioc subscriber's acknowledgement (sent after its durable commit).
func (h *ackHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if !h.b.watched(cl.ID) {
		return
	}
	d := delivery{cl.ID, pk.PacketID}
	h.mu.Lock()
	p := h.waiting[d]
	delete(h.waiting, d)
	if p != nil && h.byTag[p.tag] == nil { // still being routed: route counts it
		p.left--
	}
	h.mu.Unlock()
	if p != nil {
		h.check(p)
	}
}

// OnQosDropped: mochi gave up on a copy (its expiry passed); the publisher must send it again.
func (h *ackHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if !h.b.watched(cl.ID) {
		return
	}
	h.mu.Lock()
	p := h.waiting[delivery{cl.ID, pk.PacketID}]
	h.mu.Unlock()
	if p != nil {
		h.fail(p)
	}
}

// OnDisconnect: a publisher's pending acknowledgements go with its connection (it sends those publishes
// again); an ioc subscriber whose session ended takes its copies with it, so their publishers must resend.
func (h *ackHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	h.mu.Lock()
	delete(h.queues, cl)
	var lost []*pendingAck
	if expire && h.b.watched(cl.ID) {
		for d, p := range h.waiting {
			if d.client == cl.ID {
				delete(h.waiting, d)
				lost = append(lost, p)
			}
		}
	}
	h.mu.Unlock()
	for _, p := range lost {
		h.fail(p)
	}
}

// OnPacketEncode strips the routing tag before a packet goes on the wire.
func (h *ackHook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if _, ok := tagOf(pk); ok {
		pk.Properties.User = pk.Properties.User[:len(pk.Properties.User)-1]
	}
	return pk
}

// check completes p when its last copy has been acknowledged and writes the acknowledgements now due.
func (h *ackHook) check(p *pendingAck) {
	h.mu.Lock()
	if p.left > 0 || p.over || h.byTag[p.tag] != nil {
		h.mu.Unlock()
		return
	}
	p.over = true
	close(p.done)
	q := h.queues[p.pub]
	h.mu.Unlock()
	h.b.deferred.Observe(time.Since(p.since).Seconds())
	if q != nil {
		h.flush(q)
	}
}

// flush writes the completed head of q in order, in its own goroutine so that a publisher that does not
// read cannot stall the ioc subscriber whose acknowledgement completed the publish.
func (h *ackHook) flush(q *ackQueue) {
	q.mu.Lock()
	if q.writing {
		q.mu.Unlock()
		return
	}
	q.writing = true
	q.mu.Unlock()
	go func() {
		for {
			q.mu.Lock()
			var due []*pendingAck
			for len(q.items) > 0 && closed(q.items[0].done) {
				due = append(due, q.items[0])
				q.items = q.items[1:]
			}
			if len(due) == 0 {
				q.writing = false
				q.mu.Unlock()
				return
			}
			q.mu.Unlock()
			for _, p := range due {
				_ = p.pub.WritePacket(p.ack) // a closed publisher sends the publish again
			}
		}
	}()
}

// fail gives up on p: its publisher is disconnected without the acknowledgement, to send it again.
func (h *ackHook) fail(p *pendingAck) {
	h.forget(p)
	h.b.refused.Inc()
	h.b.srv.DisconnectClient(p.pub, packets.ErrImplementationSpecificError)
}

// forget drops p's records.
func (h *ackHook) forget(p *pendingAck) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.byTag, p.tag)
	for _, d := range p.sent {
		if h.waiting[d] == p {
			delete(h.waiting, d)
		}
	}
	if q := h.queues[p.pub]; q != nil {
		q.mu.Lock()
		q.items = slices.DeleteFunc(q.items, func(x *pendingAck) bool { return x == p })
		q.mu.Unlock()
	}
}

// pending is the number of inbound publishes awaiting ioc's acknowledgement.
func (h *ackHook) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.queues {
		q.mu.Lock()
		n += len(q.items)
		q.mu.Unlock()
	}
	return n
}

// tagOf is the routing tag of pk, always its last user property.
func tagOf(pk packets.Packet) (string, bool) {
	u := pk.Properties.User
	if pk.FixedHeader.Type != packets.Publish || len(u) == 0 || u[len(u)-1].Key != ackKey {
		return "", false
	}
	return u[len(u)-1].Val, true
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
