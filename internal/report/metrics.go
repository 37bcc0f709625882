package report

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received    *prometheus.CounterVec // by service code (bounded by the catalogue)
	transitions *prometheus.CounterVec // by new status
	escalated   *prometheus.CounterVec // by service code
	replays     prometheus.Counter
	refused     *prometheus.CounterVec // by reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_received_total", Help: "Citizen reports filed, by service code.",
		}, []string{"service"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_transitions_total", Help: "Workflow transitions, by the status moved to.",
		}, []string{"status"}),
		escalated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_escalated_total", Help: "Reports escalated for passing their SLA due time, by service code.",
		}, []string{"service"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ioc_report_idempotent_replays_total", Help: "Submissions answered with an earlier report because the idempotency key was seen.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_refused_total", Help: "Submissions refused before storage, by reason (rate_ip, rate_device, bot, invalid, too_large, media_type, api_key).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.received, m.transitions, m.escalated, m.replays, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("report metrics: %w", err)
		}
	}
	return m, nil
}
