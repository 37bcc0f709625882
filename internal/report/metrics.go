package report

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received         *prometheus.CounterVec // by service code (bounded by the catalogue)
	transitions      *prometheus.CounterVec // by new status
	escalated        *prometheus.CounterVec // by service code and recipient
	escalationFailed prometheus.Counter
	ratings          *prometheus.CounterVec // by rating
	replays          prometheus.Counter
	refused          *prometheus.CounterVec // by reason
	trackFailures    prometheus.Counter     // tracking-code lookups that found nothing

	photoRefused   *prometheus.CounterVec // by reason (bytes, pixels, memory, media_type, corrupt, busy)
	decodeBytes    prometheus.Histogram   // estimated memory per photo decode
	decodeInflight prometheus.Gauge       // memory reserved by the decodes running now
	decodeWait     prometheus.Histogram   // time waited for room in the decode pool
	requestBytes   prometheus.Histogram   // memory one submission holds: its uploads plus its largest decode
	uploadInflight prometheus.Gauge       // memory reserved by the submission bodies being read and held now
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
			Name: "ioc_report_escalated_total", Help: "Escalation steps taken for reports nearing or past a deadline, by service code and recipient (unit, supervisor, ioc).",
		}, []string{"service", "to"}),
		ratings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_ratings_total", Help: "Citizens' ratings of resolved reports, by rating (hai_long, chua_hai_long).",
		}, []string{"rating"}),
		escalationFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ioc_report_escalation_failures_total", Help: "Escalation steps the notifier did not take (retried at the next pass).",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ioc_report_idempotent_replays_total", Help: "Submissions answered with an earlier report because the idempotency key was seen.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_refused_total", Help: "Submissions refused before storage, by reason (rate_ip, rate_device, track_rate, bot, invalid, photo, api_key).",
		}, []string{"reason"}),
		trackFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ioc_report_track_failures_total", Help: "Tracking-code lookups (tracking page, reopen, Open311 tokens) that found no report.",
		}),
		photoRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ioc_report_photo_refused_total", Help: "Citizen photos refused before or instead of decoding, by reason (bytes, pixels, memory, media_type, corrupt, busy).",
		}, []string{"reason"}),
		decodeBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ioc_report_photo_decode_bytes", Help: "Memory a photo decode was estimated to take from its header (and reserved in the decode pool).",
			Buckets: prometheus.ExponentialBuckets(1<<20, 2, 10),
		}),
		decodeInflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ioc_report_photo_decode_inflight_bytes", Help: "Memory reserved by the photo decodes running now (bounded by photo_decode.max_bytes).",
		}),
		decodeWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ioc_report_photo_decode_wait_seconds", Help: "Time a photo waited for room in the decode pool.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		uploadInflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ioc_report_upload_inflight_bytes", Help: "Memory reserved by the submission bodies being read and held now (bounded by max_upload_memory).",
		}),
		requestBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ioc_report_request_memory_bytes", Help: "Memory one report submission held: its uploaded photos plus its largest photo decode.",
			Buckets: prometheus.ExponentialBuckets(64<<10, 4, 9),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.received, m.transitions, m.escalated, m.escalationFailed, m.ratings, m.replays, m.refused, m.trackFailures,
		m.photoRefused, m.decodeBytes, m.decodeInflight, m.decodeWait, m.requestBytes, m.uploadInflight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("report metrics: %w", err)
		}
	}
	return m, nil
}
