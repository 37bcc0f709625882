package alarm

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	transitions   *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	suppressed    prometheus.Counter
	stale         prometheus.Counter
	storeErrors   *prometheus.CounterVec
	notifications *prometheus.CounterVec
	rules         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_alarm_transitions_total",
			Help: "Rule transitions queued by the alarm engine, by operation (raise, clear, upgrade)."}, []string{"op"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_alarm_dropped_total",
			Help: "Items dropped because an alarm queue was full or the pipeline refused them, by queue."}, []string{"queue"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_alarm_suppressed_total",
			Help: "Evaluations whose condition held but raised nothing because the cooldown after a clear had not passed."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_alarm_stale_events_total",
			Help: "Events older than alarm.max_event_age by their own time: stored as history, evaluated by no rule."}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_alarm_store_errors_total",
			Help: "Failed alarm store operations, by operation."}, []string{"op"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_alarm_notifications_total",
			Help: "Notification deliveries, by target type (webhook, mqtt) and result (ok, retry, failed)."}, []string{"target", "result"}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_alarm_rules",
			Help: "Enabled alarm rules loaded."}),
	}
	if reg != nil {
		reg.MustRegister(m.transitions, m.dropped, m.suppressed, m.stale, m.storeErrors, m.notifications, m.rules)
	}
	return m
}
