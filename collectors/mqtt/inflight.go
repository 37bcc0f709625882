package mqtt

import (
	"hash/maphash"
	"sync"
	"time"
)

// inflight remembers the stamps given to the time-less readings of each QoS 1/2 message, by packet id,
// until the broker shows that it got the PUBACK. A PUBACK can be lost with its connection even after it
// was written (the readings are stored by then), and the broker then redelivers the message (DUP set,
// same packet id) on the next connection: that copy gets the same stamps, so its readings land on the
// same keys and are stored once. The broker reuses a packet id only after the PUBACK of the message
// that had it, so a message without DUP replaces the entry of its id.
//
// It holds at most one entry per packet id (65,535) and is safe for concurrent use.
type inflight struct {
	seed maphash.Seed
	mu   sync.Mutex
	byID map[uint16]sent
}

// sent is what one message was given.
type sent struct {
	sum    uint64      // hash of topic and payload
	stamps []time.Time // the stamps of its time-less readings, in order
}

func newInflight() *inflight { return &inflight{seed: maphash.MakeSeed(), byID: map[uint16]sent{}} }

// sum hashes a message's topic and payload.
func (f *inflight) sum(topic string, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(topic)
	h.WriteByte(0)
	h.Write(payload)
	return h.Sum64()
}

// redelivered returns the stamps given to the earlier copy of a redelivered message (dup set) with the
// same packet id, topic and payload, if it is remembered.
func (f *inflight) redelivered(id uint16, sum uint64, n int) ([]time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.byID[id]
	if !ok || s.sum != sum || len(s.stamps) != n {
		return nil, false
	}
	return s.stamps, true
}

// remember records the stamps given to message id.
func (f *inflight) remember(id uint16, sum uint64, stamps []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[id] = sent{sum: sum, stamps: stamps}
}

// forget drops the entry of packet id: a new message (no DUP) came with it and has no time-less
// readings.
func (f *inflight) forget(id uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
}
