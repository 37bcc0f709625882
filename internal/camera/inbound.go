package camera

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/stream"
)

// ReadBody reads at most limit bytes of r's body and authenticates the request. Failures come back
// as *httpapi.Error (or an *http.MaxBytesError, rendered as 413) and are counted on m.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, auth *Auth, m *Metrics) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			m.DecodeErrors.WithLabelValues(stream.ReasonTooLarge).Inc()
			return nil, err
		}
		return nil, httpapi.BadRequest("không đọc được nội dung / cannot read body: %v", err)
	}
	if err := auth.Check(r, body); err != nil {
		var he *httpapi.Error
		if errors.As(err, &he) {
			m.AuthFailures.WithLabelValues(he.Code).Inc()
		}
		return nil, err
	}
	return body, nil
}

// ErrNotRunning is returned by Outlet.Emit before Run started or after it returned.
var ErrNotRunning = errors.New("collector is not running")

// Outlet connects an HTTP handler to the emit function its collector's Run was given: Run calls
// Open(emit) and defers Close; handlers call Emit. Safe for concurrent use.
type Outlet struct {
	mu   sync.RWMutex
	emit stream.Emit
}

// Open starts forwarding to emit.
func (o *Outlet) Open(emit stream.Emit) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.emit = emit
}

// Close stops forwarding.
func (o *Outlet) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.emit = nil
}

// Emit hands events to the pipeline as one batch and counts them on m. An empty list is a no-op. It
// fails with a 503 *httpapi.Error when the collector is not running or the pipeline refused the batch.
func (o *Outlet) Emit(ctx context.Context, m *Metrics, events []stream.Event) error {
	if len(events) == 0 {
		return nil
	}
	return o.emitBatch(ctx, m, stream.Batch{Events: events})
}

// Commit is Emit that returns only once the pipeline called the batch's Done: every event is durably
// stored (or was rejected by validation). An HTTP handler answers its 2xx after Commit, so a push the
// device saw accepted survives a kill of ioc right after. When ctx ends first it fails with a 503: the
// device must send again (the events may be stored already; their writes are idempotent).
func (o *Outlet) Commit(ctx context.Context, m *Metrics, events []stream.Event) error {
	if len(events) == 0 {
		return nil
	}
	stored := make(chan struct{})
	if err := o.emitBatch(ctx, m, stream.Batch{Events: events, Done: func() { close(stored) }}); err != nil {
		return err
	}
	select {
	case <-stored:
		return nil
	case <-ctx.Done():
		return httpapi.Errorf(http.StatusServiceUnavailable, "unavailable", "chưa lưu xong, hãy gửi lại / not stored yet, send again: %v", ctx.Err())
	}
}

func (o *Outlet) emitBatch(ctx context.Context, m *Metrics, b stream.Batch) error {
	o.mu.RLock()
	emit := o.emit
	o.mu.RUnlock()
	if emit == nil {
		return httpapi.Errorf(http.StatusServiceUnavailable, "unavailable", "bộ thu chưa chạy / %v", ErrNotRunning)
	}
	if err := emit(ctx, b); err != nil {
		return httpapi.Errorf(http.StatusServiceUnavailable, "unavailable", "hệ thống bận / pipeline refused the events: %v", err)
	}
	m.Emitted.Add(float64(len(b.Events)))
	return nil
}

// Running reports whether Open was called without a matching Close.
func (o *Outlet) Running() bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.emit != nil
}
