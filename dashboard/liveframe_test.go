package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/stream"
)

// An update frame built from cached item encodings is byte for byte what json.Encoder writes for
// the same Frame (the wire format browsers and docs rely on).
func TestUpdateFrameMatchesFrameEncoding(t *testing.T) {
	full := item("cam-<1>&\"2\"", "camera", stream.TypeCamera, 106.375, 10.2416)
	full.Name = "Cầu Rạch Miễu \u2028 <b>"
	full.Registered = true
	full.Values = map[string]float64{"salinity": 3.5, "tiny": 1e-9, "big": 1e21, "neg": -0.0, "int": 42}
	full.Attrs = map[string]string{"state": "active", "note": "a\tb\\c\x01"}
	full.Areas = map[string]string{"province": "83", "district": "83-831"}
	noLocation := Item{ID: "report-1", Kind: "report", Type: stream.TypeReport}
	for _, tc := range []struct {
		name  string
		seq   uint64
		items []Item
		leave []string
	}{
		{name: "one item", seq: 1, items: []Item{item("s1", "salinity", stream.TypeTelemetry, 106.1, 10.1)}},
		{name: "every field", seq: 18446744073709551615, items: []Item{full, noLocation}},
		{name: "items and leave", seq: 7, items: []Item{noLocation, full}, leave: []string{"a", "b<&>", "Bến Tre"}},
		{name: "leave only", seq: 9, leave: []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(Frame{Type: "update", Seq: tc.seq, Items: tc.items, Leave: tc.leave}); err != nil {
				t.Fatal(err)
			}
			live := make([]*liveItem, len(tc.items))
			for i, it := range tc.items {
				live[i] = &liveItem{Item: it}
			}
			var got bytes.Buffer
			failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
			if n := appendUpdate(&got, tc.seq, live, tc.leave, failed); n != len(tc.items) {
				t.Errorf("%d items written, want %d", n, len(tc.items))
			}
			if got.String() != want.String() {
				t.Errorf("frame\n got %s\nwant %s", got.String(), want.String())
			}
			// A second client's frame reuses the cached encodings and is the same.
			got.Reset()
			appendUpdate(&got, tc.seq, live, tc.leave, failed)
			if got.String() != want.String() {
				t.Errorf("second frame\n got %s\nwant %s", got.String(), want.String())
			}
		})
	}
}

// An item that cannot be encoded (a non-finite value) is left out of the frame and counted once,
// instead of failing the whole frame.
func TestUnencodableItemIsSkipped(t *testing.T) {
	bad := item("bad", "salinity", stream.TypeTelemetry, 106.1, 10.1)
	bad.Values = map[string]float64{"v": math.NaN()}
	good := item("good", "salinity", stream.TypeTelemetry, 106.2, 10.1)
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
	live := []*liveItem{{Item: bad}, {Item: good}}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Frame{Type: "update", Seq: 3, Items: []Item{good}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var got bytes.Buffer
		if n := appendUpdate(&got, 3, live, nil, failed); n != 1 || got.String() != want.String() {
			t.Fatalf("%d items: %s, want %s", n, got.String(), want.String())
		}
	}
	if n := testutil.ToFloat64(failed); n != 1 {
		t.Fatalf("unencodable items counted %v, want 1", n)
	}
}

// BenchmarkUpdateFrame: one flush of a 1,000-client fan-out where each batch item goes to 3 clients
// (as in BenchmarkLiveFanout): the update frames of 1,000 clients with 3 items each, built from 1,000
// shared items. ns/op and allocs/op are per flush (per client frame); cached is the path the write
// pumps take, encode re-encodes each item per frame (the old path, for comparison).
//
//	go test ./dashboard -run '^$' -bench UpdateFrame -benchmem
func BenchmarkUpdateFrame(b *testing.B) {
	items := make([]Item, 1000)
	for i := range items {
		items[i] = item(fmt.Sprintf("e%05d", i), "salinity", stream.TypeTelemetry, 106+float64(i)/1000, 10+float64(i)/2000)
		items[i].Values = map[string]float64{"salinity": 3.25, "sent": 1.7637e18}
		items[i].Areas = map[string]string{"province": "83", "district": "83-831"}
	}
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "x", Help: "x"})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		var live []*liveItem
		var buf bytes.Buffer
		frame := make([]*liveItem, 3)
		for i := 0; b.Loop(); i++ {
			if i%1000 == 0 { // a new batch: fresh items, encoded on first use
				live = live[:0]
				for _, it := range items {
					live = append(live, &liveItem{Item: it})
				}
			}
			for k := range frame {
				frame[k] = live[(i*3+k*331)%len(live)]
			}
			buf.Reset()
			appendUpdate(&buf, uint64(i), frame, nil, failed)
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		frame := make([]Item, 3)
		for i := 0; b.Loop(); i++ {
			for k := range frame {
				frame[k] = items[(i*3+k*331)%len(items)]
			}
			buf.Reset()
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(Frame{Type: "update", Seq: uint64(i), Items: frame}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
