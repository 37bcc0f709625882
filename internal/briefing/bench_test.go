package briefing_test

import (
	"context"
	"io"
	"testing"

	"github.com/ioc-vn/ioc/internal/briefing"
)

// BenchmarkProvincePDF renders the province's daily report (the test world's 11 indicators and its
// trend) as PDF with the fonts embedded (subset).
func BenchmarkProvincePDF(b *testing.B) {
	f := newFixture(b, nil, false)
	rs, err := f.svc.Produce(context.Background(), "province-daily")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := briefing.RenderPDF(io.Discard, rs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProduceProvince is one whole run of the daily province schedule: recompute, PDF, XLSX,
// archive, queue.
func BenchmarkProduceProvince(b *testing.B) {
	f := newFixture(b, func(c *briefing.Config) { c.Queue = 100000 }, false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Produce(context.Background(), "province-daily"); err != nil {
			b.Fatal(err)
		}
		f.world.Now = f.world.Now.Add(1e9) // a new report id each time
	}
}
