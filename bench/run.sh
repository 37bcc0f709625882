#!/usr/bin/env bash
# make bench: installs Telegraf (the peer) when missing, runs the suite and records it with bench/report.
# Everything runs on this machine against servers the benchmarks start on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
gobin="$(go env GOPATH)/bin"
if [ -z "${IOC_TELEGRAF:-}" ] && ! command -v telegraf >/dev/null && [ ! -x "$gobin/telegraf" ]; then
  echo "bench: go install telegraf@v1.36.4 (mqtt_consumer, json_v2, influxdb_v2 only; several minutes, once)"
  GOFLAGS=-buildvcs=false go install -tags "custom,inputs.mqtt_consumer,outputs.influxdb_v2,parsers.json_v2" \
    github.com/influxdata/telegraf/cmd/telegraf@v1.36.4
fi
# ioc's /metrics after each ioc ingest run is kept next to the results.
export IOC_BENCH_METRICS="${IOC_BENCH_METRICS:-$PWD/bench/results/metrics}"
# Every benchmark runs even when one fails; bench/report records them all and exits non-zero on a failure.
(
  set +e
  go test ./bench -run '^$' -bench '^Benchmark(Ingest|LiveLatency|IdleConnections)$' -benchtime 1x -timeout 40m
  # Telegraf's sweep (about 8 minutes) only when asked: it chose bench's telegrafTuned.
  if [ -n "${IOC_BENCH_SWEEP:-}" ]; then go test ./bench -run '^$' -bench TelegrafSweep -benchtime 1x -timeout 30m; fi
  go test ./internal/app ./internal/store/influx -run '^$' -bench . -benchtime 1x -timeout 20m
  go test ./stream ./collectors/... ./internal/alarm -run '^$' -bench . -timeout 10m
  go test ./geo -run '^$' -bench . -benchtime 2s -timeout 10m
  go test ./dashboard -run '^$' -bench LiveFanout -benchtime 1x -timeout 10m
  go test ./internal/report -run '^$' -bench 'Open311Load|SubmitLoad' -benchtime 1x -report.load 30s -timeout 10m
  true
) 2>&1 | go run ./bench/report
