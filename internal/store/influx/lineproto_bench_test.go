package influx

import (
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// BenchmarkAppendPoint encodes one telemetry reading as the ingest bench sends it (two values and the
// station's place, three admin levels): the sink's encoding cost per point, before gzip.
func BenchmarkAppendPoint(b *testing.B) {
	ev := stream.Event{Entity: "bt-012345", Kind: "salinity", Type: stream.TypeTelemetry, Time: time.Now(),
		Values: map[string]float64{"salinity": 4.2, "water_level": 1.23, "lat": 10.2415, "lon": 106.3759},
		Areas:  map[string]string{"province": "83", "district": "829", "commune": "28756"}}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendPoint(buf[:0], &ev)
	}
}
