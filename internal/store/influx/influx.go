// Package influx is ioc's time-series store on InfluxDB: a durable stream.Sink written through
// influxdb-client-go/v2 (blocking write API, gzip, batches of batch_size points, at most writers
// requests at once) with an on-disk spool that keeps every accepted point while InfluxDB is down or
// slow, and a stream.ReadingStore answered with InfluxQL over the v1-compatible /query endpoint, which
// InfluxDB 1.8, 2.x and 3.x all serve. docs/STORAGE.md describes the schema.
//
// Write returns nil once every point is either accepted by InfluxDB or fsynced into the spool, so the
// pipeline acknowledges MQTT messages only for data that survives an InfluxDB outage and an ioc
// restart. While the spool holds anything, new points are appended behind it and one replayer sends
// the spool oldest first; when it is empty, writes go straight to InfluxDB again. Points are keyed by
// measurement, tags and millisecond time, so a replay or an MQTT redelivery stores nothing twice.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/ratelog"
	"github.com/ioc-vn/ioc/stream"
)

// writer sends line protocol to InfluxDB; influxdb-client-go's api.WriteAPIBlocking is one. It must be
// safe for concurrent use.
type writer interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// Options are the store's collaborators.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	// KindOf names an entity's kind (its telemetry measurement) for queries; nil, or ok false, makes a
	// query search every measurement (/.*/) for the device.
	KindOf func(entity string) (kind string, ok bool)
}

// Store is the InfluxDB store. It is safe for concurrent use; Write is meant to be called by one
// goroutine at a time (the pipeline's sink runner), as stream.Sink says.
type Store struct {
	cfg    Config
	log    *slog.Logger
	limit  *ratelog.Limiter // rate-limits repeated warnings, by message
	m      *metrics
	client influxdb2.Client
	w      writer
	http   *http.Client
	kindOf func(string) (string, bool)
	sp     *spool

	kick      chan struct{} // wakes the replayer
	stop      context.CancelFunc
	done      chan struct{}
	full      atomic.Bool   // spool full right now (logged once per episode)
	overflows atomic.Uint64 // chunks that found the spool full (each applied on_full)
	closeErr  error
	once      sync.Once

	mu      sync.Mutex // guards lastErr
	lastErr error      // last replay failure, nil after a success
}

var (
	_ stream.Sink         = (*Store)(nil)
	_ stream.ReadingStore = (*Store)(nil)
	_ stream.Checker      = (*Store)(nil)
)

// Open opens the spool (replaying what a previous run left in it) and prepares the InfluxDB client. It
// does not contact InfluxDB: ioc starts and accepts data while InfluxDB is down.
func Open(cfg Config, opts Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "influx")
	sp, err := openSpool(cfg.Spool.Dir, cfg.Spool.MaxBytes, cfg.Spool.OnFull, cfg.BatchSize)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Writers + 4
	hc := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, influxdb2.DefaultOptions().
		SetHTTPClient(hc).SetUseGZip(cfg.Gzip).SetPrecision(time.Millisecond).SetBatchSize(uint(cfg.BatchSize)))
	s := &Store{cfg: cfg, log: log, limit: ratelog.New(10 * time.Second), m: newMetrics(opts.Registerer),
		client: client, http: hc, kindOf: opts.KindOf, sp: sp, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.w = client.WriteAPIBlocking(cfg.Org, cfg.Bucket)
	if b, p := sp.size(); p > 0 {
		log.Info("spool holds points from a previous run; replaying them", "points", p, "bytes", b)
	}
	s.gauges()
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.replay(ctx)
	return s, nil
}

// Close stops the replayer and closes the client. Whatever is still spooled stays on disk for the next
// run.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.stop()
		<-s.done
		s.closeErr = s.sp.close()
		s.client.Close()
	})
	return s.closeErr
}

// Check reports whether InfluxDB answers /ping and the spool has room. A full spool is an error (ioc is
// not ready: points are held back or dropped); InfluxDB down, or refusing the spool's replay, while the
// spool has room is degraded (stream.ErrDegraded): every accepted point is kept for later.
func (s *Store) Check(ctx context.Context) error {
	if s.full.Load() {
		b, _ := s.sp.size()
		return fmt.Errorf("influx: spool full (%d bytes, on_full: %s)", b, s.cfg.Spool.OnFull)
	}
	if err := s.ping(ctx); err != nil {
		_, p := s.sp.size()
		return fmt.Errorf("%w: influx: %w; spooling (%d points held)", stream.ErrDegraded, err, p)
	}
	if _, p := s.sp.size(); p > 0 {
		if err := s.replayErr(); err != nil { // answers pings but refuses writes (no database, bad token)
			return fmt.Errorf("%w: influx: %d points spooled, replay failing: %w", stream.ErrDegraded, p, err)
		}
	}
	return nil
}

// ping asks InfluxDB's /ping.
func (s *Store) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL+"/ping", nil)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	s.auth(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ping: status %d", resp.StatusCode)
	}
	return nil
}

// Spool reports whether the spool is full right now, how many times it has overflowed since the
// store opened (a drop_oldest overflow makes room at once, so "full now" alone can miss it), and how
// many bytes it holds.
func (s *Store) Spool() (full bool, overflows uint64, bytes int64) {
	b, _ := s.sp.size()
	return s.full.Load(), s.overflows.Load(), b
}

// replayErr is the error of the last replay request, nil after a success.
func (s *Store) replayErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *Store) setReplayErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
}

func (s *Store) auth(req *http.Request) {
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	}
}

// chunk is up to batch_size points of line protocol.
type chunk struct {
	data   []byte
	points int
}

// encode turns events into chunks of at most batch_size points.
func (s *Store) encode(events []stream.Event) []chunk {
	var out []chunk
	var cur chunk
	for i := range events {
		var ok bool
		if cur.data, ok = appendPoint(cur.data, &events[i]); ok {
			cur.points++
		}
		if cur.points == s.cfg.BatchSize {
			out = append(out, cur)
			cur = chunk{}
		}
	}
	if cur.points > 0 {
		out = append(out, cur)
	}
	return out
}

// Write stores events: straight into InfluxDB when the spool is empty (up to writers requests at
// once), into the spool when it is not or when a request fails. It returns nil once every point is in
// InfluxDB or fsynced in the spool; it returns an error only when the spool cannot take the points
// (on_full: block and ctx ended, or a disk error), and the pipeline then retries the batch.
func (s *Store) Write(ctx context.Context, events []stream.Event) error {
	chunks := s.encode(events)
	if len(chunks) == 0 {
		return nil
	}
	var failed []chunk
	if _, points := s.sp.size(); points > 0 {
		failed = chunks // keep order behind what is already spooled
	} else {
		failed = s.writeDirect(ctx, chunks)
	}
	defer s.gauges()
	for _, c := range failed {
		if err := s.spoolChunk(ctx, c); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// writeDirect sends chunks with at most writers requests in flight and returns those that failed (in
// order) for the spool. Chunks InfluxDB refuses as malformed are dropped and counted.
func (s *Store) writeDirect(ctx context.Context, chunks []chunk) []chunk {
	errs := make([]error, len(chunks))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.cfg.Writers, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(chunks); i = int(next.Add(1) - 1) {
				errs[i] = s.send(ctx, chunks[i], "direct")
			}
		}()
	}
	wg.Wait()
	var failed []chunk
	for i, err := range errs {
		switch {
		case err == nil:
		case rejected(err):
			n := droppedPoints(err, chunks[i].points)
			s.m.dropped.WithLabelValues(DropRejected).Add(float64(n))
			s.log.Error("InfluxDB refused points; they are dropped", "points", n, "error", err)
		default:
			s.rateLog(slog.LevelWarn, "InfluxDB write failed; spooling", "points", chunks[i].points, "error", err)
			failed = append(failed, chunks[i])
		}
	}
	return failed
}

// send writes one chunk with the write timeout.
func (s *Store) send(ctx context.Context, c chunk, path string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := s.w.WriteRecord(ctx, string(c.data))
	s.m.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.errors.WithLabelValues(path).Inc()
		return fmt.Errorf("influx: write %d points: %w", c.points, err)
	}
	s.m.written.Add(float64(c.points))
	s.m.batch.Observe(float64(c.points))
	return nil
}

// rejected reports whether InfluxDB refused a write for its content (retrying cannot help).
func rejected(err error) bool {
	var he *ihttp.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return true
		}
	}
	return false
}

// droppedRE finds the count InfluxDB gives for a partial write ("… dropped=3").
var droppedRE = regexp.MustCompile(`dropped=(\d+)`)

// droppedPoints is how many points of a refused batch of n were not stored: the count of a partial
// write, else all of them.
func droppedPoints(err error, n int) int {
	if m := droppedRE.FindStringSubmatch(err.Error()); m != nil {
		if d, perr := strconv.Atoi(m[1]); perr == nil && d <= n {
			return d
		}
	}
	return n
}

// spoolChunk appends a chunk to the spool, applying on_full when there is no room.
func (s *Store) spoolChunk(ctx context.Context, c chunk) error {
	if s.sp.full(int64(len(c.data))) {
		s.overflows.Add(1)
		s.m.spoolFull.Inc()
		s.m.spoolFullNow.Set(1)
		if !s.full.Swap(true) {
			b, p := s.sp.size()
			s.log.Error("InfluxDB spool is full", "on_full", s.cfg.Spool.OnFull, "bytes", b, "points", p,
				"max_bytes", s.cfg.Spool.MaxBytes)
		}
	}
	drop, err := s.sp.append(ctx, c.data, c.points)
	if drop.points > 0 {
		s.m.dropped.WithLabelValues(DropSpoolFull).Add(float64(drop.points))
		s.rateLog(slog.LevelWarn, "spool full: dropped the oldest spooled points (on_full: drop_oldest)", "points", drop.points)
	}
	if err != nil {
		return fmt.Errorf("influx: spool %d points: %w", c.points, err)
	}
	s.m.spooled.Add(float64(c.points))
	return nil
}

// gauges refreshes the spool gauges and the full flag.
func (s *Store) gauges() {
	b, p := s.sp.size()
	s.m.spoolBytes.Set(float64(b))
	s.m.spoolPoints.Set(float64(p))
	if s.full.Load() && !s.sp.full(int64(s.cfg.Spool.MaxBytes/8)) {
		s.full.Store(false)
		s.m.spoolFullNow.Set(0)
		s.log.Info("InfluxDB spool has room again", "bytes", b)
	}
}

// replay sends the spool to InfluxDB oldest segment first, one request at a time, until ctx ends.
func (s *Store) replay(ctx context.Context) {
	defer close(s.done)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		seg, data, ok, err := s.sp.oldest()
		if err != nil {
			s.rateLog(slog.LevelError, "cannot read the spool", "error", err)
			if !wait(maxBackoff) {
				return
			}
			continue
		}
		if !ok {
			s.gauges()
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		err = s.send(ctx, chunk{data: data, points: seg.points}, "replay")
		if err != nil && !rejected(err) {
			s.setReplayErr(err)
			s.sp.release()
			if ctx.Err() != nil {
				return
			}
			s.rateLog(slog.LevelWarn, "InfluxDB unreachable; spool kept for replay", "points", seg.points, "retry_in", backoff, "error", err)
			if !wait(backoff) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		s.setReplayErr(nil)
		removed, derr := s.sp.done(seg.seq)
		switch {
		case derr != nil:
			s.rateLog(slog.LevelError, "cannot remove a replayed spool segment", "error", derr)
		case err != nil && removed:
			n := droppedPoints(err, seg.points)
			s.m.dropped.WithLabelValues(DropRejected).Add(float64(n))
			s.log.Error("InfluxDB refused spooled points; they are dropped", "points", n, "error", err)
		case removed:
			s.m.replayed.Add(float64(seg.points))
		}
		s.gauges()
	}
}

// rateLog logs a repeated message at most once per 10 s.
func (s *Store) rateLog(level slog.Level, msg string, args ...any) {
	if s.limit.Allow(msg) {
		s.log.Log(context.Background(), level, msg, args...)
	}
}
