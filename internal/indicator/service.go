package indicator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Service computes, stores and serves the configured indicators.
type Service struct {
	cfg   Config
	defs  map[string]Definition
	src   Sources
	store *Store
	log   *slog.Logger
	// OnChange, when set, is called with the values each recompute stored (for the live screen).
	onChange func([]Value)

	computed prometheus.Counter
	failures prometheus.Counter
	duration prometheus.Histogram
}

// Options are the service's collaborators besides its sources and store.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	OnChange   func([]Value)
}

// NewService builds the service; cfg must have passed Validate.
func NewService(cfg Config, src Sources, st *Store, o Options) *Service {
	s := &Service{cfg: cfg, defs: map[string]Definition{}, src: src, store: st, log: o.Log, onChange: o.OnChange,
		computed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_indicator_values_computed_total",
			Help: "Indicator values (one indicator, area and period) computed and stored."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_indicator_compute_failures_total",
			Help: "Indicator recomputes that failed."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_indicator_compute_duration_seconds",
			Help: "Time to recompute the indicators of one period kind over the last periods.", Buckets: prometheus.DefBuckets}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.computed, s.failures, s.duration)
	}
	for _, d := range cfg.Definitions {
		s.defs[d.Code] = d
	}
	return s
}

// Definitions returns the configured indicators in config order.
func (s *Service) Definitions() []Definition { return slices.Clone(s.cfg.Definitions) }

// Definition returns one indicator's definition.
func (s *Service) Definition(code string) (Definition, bool) {
	d, ok := s.defs[code]
	return d, ok
}

// Location is where the calendar periods are counted.
func (s *Service) Location() *time.Location { return s.src.Location }

// Recompute computes the last n periods (up to the current one) of the named indicators (every one
// when codes is empty) and stores them. It returns how many values it stored.
func (s *Service) Recompute(ctx context.Context, codes []string, n int) (int, error) {
	defs, err := s.pick(codes)
	if err != nil {
		return 0, err
	}
	now := s.src.now()
	total := 0
	for _, period := range Periods {
		group := slices.DeleteFunc(slices.Clone(defs), func(d Definition) bool { return d.Period != period })
		if len(group) == 0 {
			continue
		}
		t0 := time.Now()
		for _, span := range Last(period, now, n, s.src.Location) {
			k, err := s.ComputeSpan(ctx, group, span)
			if err != nil {
				s.failures.Inc()
				return total, err
			}
			total += k
		}
		s.duration.Observe(time.Since(t0).Seconds())
	}
	return total, nil
}

// ComputeSpan computes defs (of span's period kind) over span and stores the values.
func (s *Service) ComputeSpan(ctx context.Context, defs []Definition, span Span) (int, error) {
	vs, err := s.src.ComputeAll(ctx, defs, span)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, nil
	}
	if err := s.store.Put(ctx, vs); err != nil {
		return 0, err
	}
	s.computed.Add(float64(len(vs)))
	if s.onChange != nil {
		s.onChange(vs)
	}
	return len(vs), nil
}

func (s *Service) pick(codes []string) ([]Definition, error) {
	if len(codes) == 0 {
		return s.cfg.Definitions, nil
	}
	out := make([]Definition, 0, len(codes))
	for _, c := range codes {
		d, ok := s.defs[c]
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknown, c)
		}
		out = append(out, d)
	}
	return out, nil
}

// Values reads stored values with the status and target of their current definition; values of
// indicators no longer defined are left out.
func (s *Service) Values(ctx context.Context, f Filter) ([]Value, error) {
	vs, err := s.store.Values(ctx, f)
	if err != nil {
		return nil, err
	}
	out := vs[:0]
	for _, v := range vs {
		d, ok := s.defs[v.Indicator]
		if !ok {
			continue
		}
		v.Start, v.End = v.Start.In(s.src.Location), v.End.In(s.src.Location)
		v.Lineage.ComputedAt = v.Lineage.ComputedAt.In(s.src.Location)
		v.Status, v.Target = d.Status(v.Value), d.Target
		out = append(out, v)
	}
	return out, nil
}

// Run recomputes the last RecomputePeriods periods of every indicator at start and then every
// RecomputeEvery until ctx ends. A failed round is logged and counted; the next one tries again.
func (s *Service) Run(ctx context.Context) error {
	if len(s.cfg.Definitions) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.cfg.RecomputeEvery)
	defer t.Stop()
	for {
		if n, err := s.Recompute(ctx, nil, s.cfg.RecomputePeriods); err != nil && ctx.Err() == nil {
			s.log.Warn("indicator recompute failed", "error", err)
		} else if err == nil {
			s.log.Debug("indicators recomputed", "values", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
