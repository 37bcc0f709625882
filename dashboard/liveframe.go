package dashboard

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// liveItem is one entity state as the hub distributes it: every client it goes to shares the same
// pointer, and its JSON is encoded once, by the first write pump that sends it.
type liveItem struct {
	Item
	once sync.Once
	json []byte // nil when the item cannot be encoded (a non-finite value): it is skipped
}

// encoded is the item's JSON, exactly as encoding/json writes it inside a Frame with HTML escaping
// off; failures are counted on failed once per item.
func (it *liveItem) encoded(failed prometheus.Counter) []byte {
	it.once.Do(func() {
		b := scratch.Get().(*bytes.Buffer)
		defer putScratch(b)
		b.Reset()
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&it.Item); err != nil {
			failed.Inc()
			return
		}
		it.json = bytes.Clone(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	})
	return it.json
}

// scratch holds buffers for encoding items and building frames; they go back after each use.
var scratch = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendUpdate appends the update frame {"type":"update","seq":…,"items":[…],"leave":[…]} and a
// newline to b: the bytes json.Encoder writes for Frame{Type: "update", Seq: seq, Items: …, Leave:
// leave}, built from the items' cached encodings instead of encoding each item again per client.
func appendUpdate(b *bytes.Buffer, seq uint64, items []*liveItem, leave []string, failed prometheus.Counter) (sent int) {
	b.WriteString(`{"type":"update","seq":`)
	b.Write(strconv.AppendUint(b.AvailableBuffer(), seq, 10))
	for _, it := range items {
		enc := it.encoded(failed)
		if enc == nil {
			continue
		}
		if sent == 0 {
			b.WriteString(`,"items":[`)
		} else {
			b.WriteByte(',')
		}
		b.Write(enc)
		sent++
	}
	if sent > 0 {
		b.WriteByte(']')
	}
	if len(leave) > 0 {
		b.WriteString(`,"leave":`)
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(leave) // a []string always encodes
		b.Truncate(b.Len() - 1)
	}
	b.WriteString("}\n")
	return sent
}
