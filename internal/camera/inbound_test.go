package camera

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/stream"
)

// Commit returns only once the pipeline called Done (the events are stored); a request that ends before
// that is answered 503, so the device sends again instead of counting the push as delivered.
func TestCommitWaitsForTheDurableCommit(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry(), "webhook")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		stored bool // the pipeline calls Done before the request ends
	}{
		{"stored", true},
		{"request ends before the commit", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Outlet
			taken := make(chan stream.Batch, 1)
			o.Open(func(_ context.Context, b stream.Batch) error { taken <- b; return nil })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- o.Commit(ctx, m, []stream.Event{{Entity: "cam-1", Kind: "camera"}}) }()
			b := <-taken
			if tc.stored {
				b.Done()
			} else {
				cancel()
			}
			err := <-res
			var he *httpapi.Error
			switch {
			case tc.stored && err != nil:
				t.Fatalf("Commit after Done: %v", err)
			case !tc.stored && (!errors.As(err, &he) || he.Status != http.StatusServiceUnavailable):
				t.Fatalf("Commit whose events were not stored returned %v, want a 503", err)
			}
		})
	}
}
