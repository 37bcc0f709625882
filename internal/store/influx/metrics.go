package influx

import "github.com/prometheus/client_golang/prometheus"

// Reasons for dropped points (the bounded "reason" label).
const (
	DropSpoolFull = "spool_full" // on_full: drop_oldest removed spooled points to make room
	DropRejected  = "rejected"   // InfluxDB refused the batch (400: bad line, field type conflict)
)

type metrics struct {
	written      prometheus.Counter
	latency      prometheus.Histogram
	batch        prometheus.Histogram
	spoolBytes   prometheus.Gauge
	spoolPoints  prometheus.Gauge
	spooled      prometheus.Counter
	replayed     prometheus.Counter
	dropped      *prometheus.CounterVec
	errors       *prometheus.CounterVec
	spoolFull    prometheus.Counter
	spoolFullNow prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_influx_points_written_total",
			Help: "Points InfluxDB accepted, written directly or replayed from the spool."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_influx_write_seconds",
			Help: "Time of one InfluxDB write request.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ioc_influx_batch_points",
			Help: "Points per InfluxDB write request.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_influx_spool_bytes",
			Help: "Bytes of line protocol waiting in the on-disk spool."}),
		spoolPoints: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_influx_spool_points",
			Help: "Points waiting in the on-disk spool."}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_influx_spooled_points_total",
			Help: "Points written to the on-disk spool because InfluxDB was unreachable, slow or behind."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_influx_replayed_points_total",
			Help: "Points replayed from the spool into InfluxDB (its rate is the replay rate)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_influx_dropped_points_total",
			Help: "Points that will never reach InfluxDB, by reason (spool_full, rejected)."}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_influx_write_errors_total",
			Help: "Failed InfluxDB write requests, by path (direct, replay)."}, []string{"path"}),
		spoolFull: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_influx_spool_full_total",
			Help: "Times a write found the spool full and applied spool.on_full."}),
		spoolFullNow: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ioc_influx_spool_full",
			Help: "1 while the spool is full (alert on it), else 0."}),
	}
	for _, r := range []string{DropSpoolFull, DropRejected} {
		m.dropped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.written, m.latency, m.batch, m.spoolBytes, m.spoolPoints, m.spooled, m.replayed,
			m.dropped, m.errors, m.spoolFull, m.spoolFullNow)
	}
	return m
}
