package app

import (
	"context"
	"slices"
	"time"

	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/stream"
)

// Built-in alarm on ioc's own health: the InfluxDB spool is full.
const (
	spoolEntity = "ioc-influx-spool"
	spoolRuleID = "influx-spool-full"
)

// spoolWatchEvery is how often the spool's state is handed to the alarm rules.
var spoolWatchEvery = 2 * time.Second

// withSpoolRule adds the built-in critical alarm "InfluxDB spool full" to the configured rules when
// InfluxDB is on and no rule of that id is configured (a configured one replaces it).
func withSpoolRule(cfg alarm.Config, influxOn bool) alarm.Config {
	if !influxOn || slices.ContainsFunc(cfg.Rules, func(r alarm.Rule) bool { return r.ID == spoolRuleID }) {
		return cfg
	}
	cfg.Rules = append(slices.Clone(cfg.Rules), alarm.Rule{ID: spoolRuleID,
		Name:     "Bộ đệm InfluxDB đầy: dữ liệu đang chờ hoặc bị bỏ / InfluxDB spool full: data waiting or dropped",
		Severity: alarm.SeverityCritical, Scope: alarm.Scope{Kinds: []string{"system"}},
		When: alarm.Condition{Threshold: &alarm.Threshold{Field: "spool_full", Op: ">", Value: 0.5}}})
	return cfg
}

// watchSpool hands the spool's state to the alarm rules every spoolWatchEvery, straight to the engine
// rather than through the pipeline: with on_full: block the pipeline is what is stalled, and the alarm
// (stored, notified by webhook and MQTT) must still be raised.
func (a *App) watchSpool(ctx context.Context) error {
	t := time.NewTicker(spoolWatchEvery)
	defer t.Stop()
	var seen uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// Full now, or overflowed since the last look (drop_oldest makes room at once).
		full, overflows, bytes := a.Influx.Spool()
		v := 0.0
		if full || overflows > seen {
			v = 1
		}
		seen = overflows
		ev := stream.Event{Entity: spoolEntity, Kind: "system", Type: stream.TypeTelemetry, Source: "ioc", Time: time.Now(),
			Values: map[string]float64{"spool_full": v, "spool_bytes": float64(bytes)}}
		if err := a.Alarms.Process(ctx, &ev); err != nil {
			a.log.Warn("spool state not evaluated", "component", "influx", "error", err)
		}
	}
}
