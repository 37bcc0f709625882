package geo

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

// maxCache bounds the per-device cache; past it the cache starts over (counted as misses).
const maxCache = 1 << 18

// Enricher is the pipeline stage that sets ev.Areas: the area code of every level for events with a
// location (stream.AreaOutside where no area contains it). Events that already carry areas (alarm
// changes inherit their source's) are left alone. A static device's lookup is cached by entity and
// position, so a sensor reporting every few seconds costs one map read.
//
// Swap replaces the areas at run time (reload); the cache is keyed by the areas' generation so a
// reload never serves stale codes. Process may run concurrently with Swap and with readers of Areas.
type Enricher struct {
	cur atomic.Pointer[areasGen]
	m   enrichMetrics

	mu    sync.Mutex // guards cache
	cache map[string]cached
}

type areasGen struct {
	areas *Areas
	gen   uint64
}

type cached struct {
	p     orb.Point
	gen   uint64
	codes map[string]string
}

type enrichMetrics struct {
	lookups                  *prometheus.CounterVec
	cached, indexed, outside prometheus.Counter
	reloads                  prometheus.Counter
	areas                    prometheus.Gauge
}

var _ stream.Stage = (*Enricher)(nil)

// NewEnricher builds the stage over areas.
func NewEnricher(areas *Areas, reg prometheus.Registerer) *Enricher {
	e := &Enricher{cache: map[string]cached{}, m: enrichMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_geo_lookups_total",
			Help: "Area lookups by the enrichment stage, by result (cached, indexed, outside)."}, []string{"result"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_geo_reloads_total", Help: "Admin area reloads applied."}),
		areas:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_geo_areas", Help: "Admin areas loaded."}),
	}}
	if reg != nil {
		reg.MustRegister(e.m.lookups, e.m.reloads, e.m.areas)
	}
	e.m.cached, e.m.indexed, e.m.outside = e.m.lookups.WithLabelValues("cached"), e.m.lookups.WithLabelValues("indexed"),
		e.m.lookups.WithLabelValues("outside")
	e.cur.Store(&areasGen{areas: areas, gen: 1})
	e.m.areas.Set(float64(areas.Len()))
	return e
}

// Areas returns the areas in use.
func (e *Enricher) Areas() *Areas { return e.cur.Load().areas }

// Swap puts new areas in use; events already being enriched finish with the old ones.
func (e *Enricher) Swap(areas *Areas) {
	old := e.cur.Load()
	e.cur.Store(&areasGen{areas: areas, gen: old.gen + 1})
	e.m.reloads.Inc()
	e.m.areas.Set(float64(areas.Len()))
}

// Codes returns the area codes of p by level (the Locate function reports use).
func (e *Enricher) Codes(lon, lat float64) map[string]string {
	return e.cur.Load().areas.Codes(orb.Point{lon, lat})
}

// Process sets ev.Areas from ev.Location; see Enricher.
func (e *Enricher) Process(_ context.Context, ev *stream.Event) error {
	if !ev.HasLocation || len(ev.Areas) > 0 {
		return nil
	}
	cur := e.cur.Load()
	e.mu.Lock()
	c, ok := e.cache[ev.Entity]
	e.mu.Unlock()
	if ok && c.gen == cur.gen && c.p == ev.Location {
		e.m.cached.Inc()
		ev.Areas = c.codes // shared: events' maps are read-only (a stage that changes one copies it)
		return nil
	}
	codes := cur.areas.Codes(ev.Location)
	result := e.m.indexed
	for _, code := range codes {
		if code == stream.AreaOutside {
			result = e.m.outside
		}
	}
	result.Inc()
	e.mu.Lock()
	if len(e.cache) >= maxCache {
		clear(e.cache)
	}
	e.cache[ev.Entity] = cached{p: ev.Location, gen: cur.gen, codes: codes}
	e.mu.Unlock()
	ev.Areas = codes
	return nil
}
