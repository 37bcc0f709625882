# ioc — two commands for a newcomer: `make run` and `make test`.
GO      ?= go
BIN     := bin/ioc
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export GOFLAGS := -buildvcs=false

.PHONY: all build web run test deps vet bench bench-ingest fuzz soak clean

all: build

build: web
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ioc

## web: bundle the web pages (Leaflet, uPlot, esbuild from npm) into dashboard/web/dist, which go build
## embeds; without it the binary serves a plain fallback page.
web:
	@[ -f node_modules/.package-lock.json ] || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	npm run build

## run: build and start everything on embedded defaults with the Tỉnh Vĩnh Long demo feed.
run: build
	./$(BIN) serve --config configs/demo.yaml

## test: install what the tests need (Mosquitto, InfluxDB 1.8, …) if missing, then run every test.
test: deps
	$(GO) vet ./...
	FUZZTIME=3s bash .ci/fuzz
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/e2e$$')
	@# The browser tests run alone: their timing promises (a reading on the map within a second) are
	@# about ioc, not about sharing two cores with the other packages' servers.
	$(GO) test -count=1 -timeout 15m ./e2e

deps:
	bash .ci/deps

vet:
	$(GO) vet ./...

## fuzz: every fuzz target for FUZZTIME each (default 60s here; make test runs them for 3s).
fuzz:
	FUZZTIME=$${FUZZTIME:-60s} bash .ci/fuzz

## bench: the suite of docs/PERFORMANCE.md (ioc next to Telegraf, a bare subscriber and raw InfluxDB writes;
## live latency; idle connection memory; geo; reports): writes bench/results/ and updates the document.
bench: deps
	bash bench/run.sh

## soak: not in CI. SOAK_DURATION (default 30m) of mixed load — readings through Mosquitto and the embedded
## broker into InfluxDB, camera pushes into SQLite — with ioc, InfluxDB and Mosquitto killed in turn every
## SOAK_EVERY (default 20s); fails on any acknowledged reading or accepted push lost or stored twice.
## SOAK_FLAGS passes more, e.g. SOAK_FLAGS='-soak.skip Mosquitto' or '-soak.only ioc'.
SOAK_DURATION ?= 30m
SOAK_EVERY    ?= 20s
SOAK_FLAGS    ?=
soak: deps
	$(GO) test -tags soak -count=1 -timeout 0 -run '^TestSoak$$' -v ./internal/app/ -soak.duration $(SOAK_DURATION) -soak.every $(SOAK_EVERY) $(SOAK_FLAGS)

## bench-ingest: only the ingest runs of make bench (both device mixes, ioc next to the tuned Telegraf),
## their table and ratios printed; nothing recorded. IOC_BENCH_SWEEP=1 make bench also runs Telegraf's sweep.
bench-ingest: deps
	go test ./bench -run '^$$' -bench '^BenchmarkIngest$$' -benchtime 1x -timeout 40m | go run ./bench/report -print

clean:
	rm -rf bin data
