package camera

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the counters every camera collector keeps, named ioc_<component>_…
type Metrics struct {
	Received     prometheus.Counter     // raw vendor messages/alerts taken in
	Emitted      prometheus.Counter     // events handed to the pipeline
	DecodeErrors *prometheus.CounterVec // by reason
	AuthFailures *prometheus.CounterVec // by reason
	Reconnects   prometheus.Counter     // connection or subscription restarts
	Collapsed    prometheus.Counter     // repeats folded into a count
	Dropped      prometheus.Counter     // messages dropped because a bounded hand-off was full
}

// NewMetrics builds and registers (when reg is not nil) the metrics of component.
func NewMetrics(reg prometheus.Registerer, component string) (*Metrics, error) {
	p := "ioc_" + component + "_"
	m := &Metrics{
		Received:     prometheus.NewCounter(prometheus.CounterOpts{Name: p + "messages_received_total", Help: "Vendor messages or alerts received by the " + component + " collector."}),
		Emitted:      prometheus.NewCounter(prometheus.CounterOpts{Name: p + "events_emitted_total", Help: "Camera events handed to the pipeline by the " + component + " collector."}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: p + "decode_errors_total", Help: "Messages the " + component + " collector could not decode, by reason."}, []string{"reason"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: p + "auth_failures_total", Help: "Requests refused by " + component + " authentication, by reason."}, []string{"reason"}),
		Reconnects:   prometheus.NewCounter(prometheus.CounterOpts{Name: p + "reconnects_total", Help: "Connection or subscription restarts of the " + component + " collector."}),
		Collapsed:    prometheus.NewCounter(prometheus.CounterOpts{Name: p + "repeats_collapsed_total", Help: "Identical repeats folded into a counted event by the " + component + " collector."}),
		Dropped:      prometheus.NewCounter(prometheus.CounterOpts{Name: p + "dropped_total", Help: "Messages dropped by the " + component + " collector because its bounded queue was full."}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.Received, m.Emitted, m.DecodeErrors, m.AuthFailures, m.Reconnects, m.Collapsed, m.Dropped} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register %s metrics: %w", component, err)
	}
	return m, nil
}
