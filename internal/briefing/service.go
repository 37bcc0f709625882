package briefing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/indicator"
)

// Indicators is what the briefings need from the indicator service (*indicator.Service).
type Indicators interface {
	Definitions() []indicator.Definition
	ComputeSpan(ctx context.Context, defs []indicator.Definition, span indicator.Span) (int, error)
	Values(ctx context.Context, f indicator.Filter) ([]indicator.Value, error)
}

// Deps are the service's collaborators.
type Deps struct {
	Indicators Indicators
	Areas      func() *geo.Areas
	Sender     Sender // nil: Outbox{cfg.Outbox}
	Location   *time.Location
	Now        func() time.Time // nil: time.Now
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// Wait, when set, replaces the retry backoff wait (tests drive it); it returns false when ctx ends.
	Wait func(ctx context.Context, d time.Duration) bool
}

// TrendPeriods is how many periods the trend chart shows.
const TrendPeriods = 14

// Service produces, archives and delivers the scheduled reports. Lock order: mu only (the archive's
// meta files); the delivery queue is a channel.
type Service struct {
	cfg   Config
	d     Deps
	queue chan job
	mu    sync.Mutex

	produced  prometheus.Counter
	delivered *prometheus.CounterVec
	retries   prometheus.Counter
}

type job struct {
	id  string
	msg Message
}

// New builds the service; cfg must have passed Validate and have Archive and Outbox set.
func New(cfg Config, d Deps) *Service {
	if d.Sender == nil {
		d.Sender = Outbox{Dir: cfg.Outbox}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Wait == nil {
		d.Wait = func(ctx context.Context, dur time.Duration) bool {
			t := time.NewTimer(dur)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				return true
			}
		}
	}
	s := &Service{cfg: cfg, d: d, queue: make(chan job, cfg.Queue),
		produced: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_briefing_reports_total",
			Help: "Scheduled or requested reports produced and archived."}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_briefing_deliveries_total",
			Help: "Report deliveries by outcome: sent, failed (after the last try) or dropped (queue full)."}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_briefing_delivery_retries_total",
			Help: "Report delivery tries after a failed one."}),
	}
	for _, r := range []string{"sent", "failed", "dropped"} {
		s.delivered.WithLabelValues(r)
	}
	if d.Registerer != nil {
		d.Registerer.MustRegister(s.produced, s.delivered, s.retries)
	}
	return s
}

// Metrics are the service's counters (for tests and dashboards).
type Metrics struct {
	Produced  prometheus.Counter
	Delivered *prometheus.CounterVec
	Retries   prometheus.Counter
}

// Metrics returns the service's counters.
func (s *Service) Metrics() Metrics {
	return Metrics{Produced: s.produced, Delivered: s.delivered, Retries: s.retries}
}

// Schedules returns the configured schedules with their defaults filled in.
func (s *Service) Schedules() []Schedule {
	out := make([]Schedule, len(s.cfg.Schedules))
	for i, sc := range s.cfg.Schedules {
		out[i] = sc.WithDefaults()
	}
	return out
}

// ErrUnknownSchedule is returned for a schedule name that is not configured.
var ErrUnknownSchedule = errors.New("unknown schedule")

// SpanOf is the period a schedule run at t reports on: the day of t for a daily report, the last
// complete week or month otherwise.
func SpanOf(kind string, t time.Time, loc *time.Location) indicator.Span {
	span := indicator.SpanAt(Period(kind), t, loc)
	if kind != Daily {
		span = span.Prev(loc)
	}
	return span
}

// Produce runs the named schedule now: it recomputes the period's indicators, renders one report
// per area, archives them and queues their delivery. It returns the archived reports.
func (s *Service) Produce(ctx context.Context, name string) ([]Report, error) {
	i := slices.IndexFunc(s.cfg.Schedules, func(sc Schedule) bool { return sc.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownSchedule, name)
	}
	sc := s.cfg.Schedules[i].WithDefaults()
	now := s.d.Now().In(s.d.Location)
	span := SpanOf(sc.Kind, now, s.d.Location)
	defs := slices.DeleteFunc(s.d.Indicators.Definitions(), func(d indicator.Definition) bool {
		return d.Period != span.Period || !slices.Contains(d.Levels, sc.Level)
	})
	byCode := map[string]indicator.Definition{}
	for _, d := range defs {
		byCode[d.Code] = d
	}
	if _, err := s.d.Indicators.ComputeSpan(ctx, defs, span); err != nil {
		return nil, fmt.Errorf("briefing %s: %w", name, err)
	}
	var trendDef indicator.Definition
	if d, ok := byCode[sc.Trend]; ok {
		trendDef = d
	} else if len(defs) > 0 {
		trendDef = defs[0]
	}
	trendFrom := span
	if trendDef.Code != "" {
		for range TrendPeriods - 1 {
			trendFrom = trendFrom.Prev(s.d.Location)
			if _, err := s.d.Indicators.ComputeSpan(ctx, []indicator.Definition{trendDef}, trendFrom); err != nil {
				return nil, fmt.Errorf("briefing %s trend: %w", name, err)
			}
		}
	}
	var out []Report
	for _, a := range s.d.Areas().List(sc.Level) {
		r, err := s.report(ctx, sc, a, span, trendFrom, defs, trendDef, now)
		if err != nil {
			return out, err
		}
		s.produced.Inc()
		out = append(out, r)
	}
	return out, nil
}

func (s *Service) report(ctx context.Context, sc Schedule, a *geo.Area, span, trendFrom indicator.Span,
	defs []indicator.Definition, trendDef indicator.Definition, now time.Time) (Report, error) {
	r := Report{ID: fmt.Sprintf("%s-%s-%s-%s", sc.Name, a.Code, span.Key, now.Format("20060102T150405")), Schedule: sc.Name,
		Kind: sc.Kind, Area: a.Code, AreaName: a.Name, Level: a.Level, Period: span.Key, Start: span.Start, End: span.End,
		Generated: now.Truncate(time.Second), Defs: map[string]indicator.Definition{}, Delivery: []Delivery{}}
	vs, err := s.d.Indicators.Values(ctx, indicator.Filter{Areas: []string{a.Code}, Key: span.Key})
	if err != nil {
		return r, fmt.Errorf("briefing values: %w", err)
	}
	for _, d := range defs {
		r.Defs[d.Code] = d
		row := Row{Def: d}
		for i := range vs {
			if vs[i].Indicator == d.Code {
				row.Value = &vs[i]
			}
		}
		r.Rows = append(r.Rows, row)
	}
	if trendDef.Code != "" {
		r.Trend.Def = trendDef
		pts, err := s.d.Indicators.Values(ctx, indicator.Filter{Indicators: []string{trendDef.Code}, Areas: []string{a.Code},
			From: trendFrom.Start, To: span.End})
		if err != nil {
			return r, fmt.Errorf("briefing trend: %w", err)
		}
		r.Trend.Points = pts
	}
	var pdf, xlsx bytes.Buffer
	if err := RenderPDF(&pdf, r); err != nil {
		return r, err
	}
	if err := RenderXLSX(&xlsx, r); err != nil {
		return r, err
	}
	base := "bao-cao-" + a.Code + "-" + span.Key
	files := []Attachment{{Name: base + ".pdf", ContentType: "application/pdf", Data: pdf.Bytes()},
		{Name: base + ".xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Data: xlsx.Bytes()}}
	dir := filepath.Join(s.cfg.Archive, r.ID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return r, fmt.Errorf("briefing archive: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o640); err != nil {
			return r, fmt.Errorf("briefing archive: %w", err)
		}
		r.Files = append(r.Files, f.Name)
	}
	to := append(slices.Clone(sc.Recipients), sc.PerArea[a.Code]...)
	msg := Message{From: s.from(), To: to, Subject: r.Title(), Date: now, Attachments: files, Body: body(r)}
	r.Delivery = append(r.Delivery, Delivery{To: to, Via: s.d.Sender.Via(), Status: "queued", At: now})
	if err := s.writeMeta(r); err != nil {
		return r, err
	}
	select {
	case s.queue <- job{id: r.ID, msg: msg}:
	default:
		s.delivered.WithLabelValues("dropped").Inc()
		s.d.Log.Warn("briefing delivery dropped: queue full", "report", r.ID)
		if err := s.setDelivery(r.ID, func(d *Delivery) { d.Status = "dropped" }); err != nil {
			return r, err
		}
		r.Delivery[0].Status = "dropped"
	}
	return r, nil
}

func (s *Service) from() string {
	if s.cfg.SMTP.From != "" {
		return s.cfg.SMTP.From
	}
	return "IOC <ioc@localhost>"
}

// body is the plain-text mail body: the table in words, Vietnamese first.
func body(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s (%s), kỳ %s\n\n", kindTitle(r.Kind), r.AreaName, r.Area, r.Period)
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "- %s: %s %s", row.Def.NameVI, valueText(row), row.Def.Unit)
		if row.Value != nil && row.Value.Status != "" {
			fmt.Fprintf(&b, " (%s)", statusText(row.Value.Status))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nBáo cáo đầy đủ trong tệp PDF và XLSX đính kèm / the full report is attached (PDF, XLSX).\nLập lúc / generated %s\n",
		r.Generated.Format(time.RFC3339))
	return b.String()
}

// Run runs the schedules and the delivery worker until ctx ends. Deliveries still queued at the end
// stay "queued" in the archive.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.deliver(ctx)
	}()
	defer wg.Wait()
	for {
		now := s.d.Now()
		name, at := s.next(now)
		if name == "" {
			<-ctx.Done()
			return nil
		}
		t := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if _, err := s.Produce(ctx, name); err != nil && ctx.Err() == nil {
			s.d.Log.Error("scheduled report failed", "schedule", name, "error", err)
		}
	}
}

// next is the schedule that runs first after t, and when.
func (s *Service) next(t time.Time) (string, time.Time) {
	var name string
	var at time.Time
	for _, sc := range s.cfg.Schedules {
		n := sc.Next(t, s.d.Location)
		if !n.IsZero() && (name == "" || n.Before(at)) {
			name, at = sc.Name, n
		}
	}
	return name, at
}

// deliver sends queued messages one at a time, retrying each with doubling backoff.
func (s *Service) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.queue:
			s.send(ctx, j)
		}
	}
}

func (s *Service) send(ctx context.Context, j job) {
	wait := s.cfg.Backoff
	var err error
	for attempt := 1; attempt <= s.cfg.Attempts; attempt++ {
		if attempt > 1 {
			s.retries.Inc()
			if !s.d.Wait(ctx, wait) {
				return
			}
			wait *= 2
		}
		err = s.d.Sender.Send(ctx, j.msg)
		n := attempt
		status, msg := "sent", ""
		if err != nil {
			status, msg = "retrying", err.Error()
			if attempt == s.cfg.Attempts {
				status = "failed"
			}
		}
		if merr := s.setDelivery(j.id, func(d *Delivery) {
			d.Status, d.Attempts, d.Error, d.At = status, n, msg, s.d.Now().In(s.d.Location)
		}); merr != nil {
			s.d.Log.Warn("briefing archive update failed", "report", j.id, "error", merr)
		}
		if err == nil {
			s.delivered.WithLabelValues("sent").Inc()
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
	s.delivered.WithLabelValues("failed").Inc()
	s.d.Log.Error("briefing delivery failed after the last try", "report", j.id, "attempts", s.cfg.Attempts, "error", err)
}

const metaFile = "report.json"

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}-[A-Za-z0-9-]{1,32}-[0-9A-Z-]{4,10}-[0-9]{8}T[0-9]{6}$`)

func (s *Service) writeMeta(r Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeMetaLocked(r)
}

func (s *Service) writeMetaLocked(r Report) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("briefing archive: %w", err)
	}
	p := filepath.Join(s.cfg.Archive, r.ID, metaFile)
	if err := os.WriteFile(p+".tmp", raw, 0o640); err != nil {
		return fmt.Errorf("briefing archive: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("briefing archive: %w", err)
	}
	return nil
}

func (s *Service) setDelivery(id string, fn func(*Delivery)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.readMeta(id)
	if err != nil {
		return err
	}
	if len(r.Delivery) == 0 {
		r.Delivery = []Delivery{{}}
	}
	fn(&r.Delivery[len(r.Delivery)-1])
	return s.writeMetaLocked(r)
}

func (s *Service) readMeta(id string) (Report, error) {
	var r Report
	raw, err := os.ReadFile(filepath.Join(s.cfg.Archive, id, metaFile))
	if err != nil {
		return r, fmt.Errorf("briefing archive: %w", err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("briefing archive %s: %w", id, err)
	}
	return r, nil
}

// Archive lists the archived reports, newest first, at most limit.
func (s *Service) Archive(limit int) ([]Report, error) {
	ents, err := os.ReadDir(s.cfg.Archive)
	if errors.Is(err, os.ErrNotExist) {
		return []Report{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("briefing archive: %w", err)
	}
	out := []Report{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		if !e.IsDir() || !idRE.MatchString(e.Name()) {
			continue
		}
		r, err := s.readMeta(e.Name())
		if err != nil {
			s.d.Log.Warn("briefing archive entry unreadable", "report", e.Name(), "error", err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Report) int { return b.Generated.Compare(a.Generated) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
