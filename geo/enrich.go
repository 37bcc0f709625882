package geo

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

// maxCache bounds the per-device cache; past it the cache starts over (counted as misses).
const maxCache = 1 << 18

// Enricher is the pipeline stage that sets ev.Areas: the area code of every level for events with a
// location (stream.AreaOutside where no area contains it), from the boundary set in force at the
// event's own time (Sets.At: a reading stamped 2025-06-30 gets the old codes, one stamped 2025-07-01
// the new; an event without a time uses the set in force now). Events that already carry areas (alarm
// changes inherit their source's) are left alone. A static device's lookup is cached by entity and
// position, so a sensor reporting every few seconds costs one map read.
//
// Swap replaces the sets at run time (reload); the cache is keyed by the sets' generation and the set
// used, so a reload never serves stale codes. Process may run concurrently with Swap and with readers of Areas.
type Enricher struct {
	cur atomic.Pointer[areasGen]
	m   enrichMetrics

	mu    sync.Mutex // guards cache
	cache map[string]cached
}

type areasGen struct {
	sets *Sets
	gen  uint64
}

type cached struct {
	p     orb.Point
	gen   uint64
	set   *Set
	codes map[string]string
}

type enrichMetrics struct {
	lookups                  *prometheus.CounterVec
	cached, indexed, outside prometheus.Counter
	reloads                  prometheus.Counter
	areas                    prometheus.Gauge
}

var _ stream.Stage = (*Enricher)(nil)

// NewEnricher builds the stage over boundary sets (Single for one set valid at all times).
func NewEnricher(sets *Sets, reg prometheus.Registerer) *Enricher {
	e := &Enricher{cache: map[string]cached{}, m: enrichMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_geo_lookups_total",
			Help: "Area lookups by the enrichment stage, by result (cached, indexed, outside)."}, []string{"result"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_geo_reloads_total", Help: "Admin area reloads applied."}),
		areas:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_geo_areas", Help: "Admin areas loaded, over every boundary set."}),
	}}
	if reg != nil {
		reg.MustRegister(e.m.lookups, e.m.reloads, e.m.areas)
	}
	e.m.cached, e.m.indexed, e.m.outside = e.m.lookups.WithLabelValues("cached"), e.m.lookups.WithLabelValues("indexed"),
		e.m.lookups.WithLabelValues("outside")
	e.cur.Store(&areasGen{sets: sets, gen: 1})
	e.m.areas.Set(float64(sets.Len()))
	return e
}

// Areas returns the areas in force now.
func (e *Enricher) Areas() *Areas { return e.cur.Load().sets.Areas() }

// Sets returns the boundary sets in use.
func (e *Enricher) Sets() *Sets { return e.cur.Load().sets }

// Swap puts new sets in use; events already being enriched finish with the old ones.
func (e *Enricher) Swap(sets *Sets) {
	old := e.cur.Load()
	e.cur.Store(&areasGen{sets: sets, gen: old.gen + 1})
	e.m.reloads.Inc()
	e.m.areas.Set(float64(sets.Len()))
}

// Codes returns the area codes of p by level in the set in force now (the Locate function reports use).
func (e *Enricher) Codes(lon, lat float64) map[string]string {
	return e.cur.Load().sets.Areas().Codes(orb.Point{lon, lat})
}

// CodesAt returns the area codes of p ([lon, lat]) by level in the set in force at t.
func (e *Enricher) CodesAt(t time.Time, p orb.Point) map[string]string {
	return e.cur.Load().sets.At(t).Areas.Codes(p)
}

// Process sets ev.Areas from ev.Location; see Enricher.
func (e *Enricher) Process(_ context.Context, ev *stream.Event) error {
	if !ev.HasLocation || len(ev.Areas) > 0 {
		return nil
	}
	cur := e.cur.Load()
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	set := cur.sets.At(t)
	e.mu.Lock()
	c, ok := e.cache[ev.Entity]
	e.mu.Unlock()
	if ok && c.gen == cur.gen && c.set == set && c.p == ev.Location {
		e.m.cached.Inc()
		ev.Areas = c.codes // shared: events' maps are read-only (a stage that changes one copies it)
		return nil
	}
	codes := set.Areas.Codes(ev.Location)
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
	e.cache[ev.Entity] = cached{p: ev.Location, gen: cur.gen, set: set, codes: codes}
	e.mu.Unlock()
	ev.Areas = codes
	return nil
}
