# Corridor — two commands: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/corridor
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Fuzz budget per target inside `make test` (short) and for `make fuzz` (long): execution counts,
# never wall time (a duration budget can fail with "context deadline exceeded", golang/go#75804).
FUZZTIME ?= 10000x
LONG_FUZZTIME ?= 1000000x

.PHONY: run build services test unit fuzz-short fuzz bench chaos lint clean web bench-web

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/corridor

services:
	@bash scripts/services.sh

# Start PostGIS (installing it when absent) and serve on :8080 with embedded NATS — or the NATS
# server already answering on 127.0.0.1:4222 — and the JT/T 808 gateway on :6808, with the
# Changshou demo fleet (`make run ARGS=` for none).
ARGS ?= --demo
# `make bench E2E_ARGS="--mem-vehicles 10000,100000,400000 --engines 1,2,3"` for the larger rows.
E2E_ARGS ?=
run: services build
	@bash scripts/run.sh $(BIN) $(ARGS)

test: services
	@bash scripts/test.sh

lint:
	gofmt -l $$(git ls-files '*.go') | (! grep .)
	$(GO) vet ./...
	$$( $(GO) env GOPATH )/bin/staticcheck ./... 2>/dev/null || $(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...
	cd tools/openapi-lint && ( [ -d node_modules ] || npm ci --no-audit --no-fund ) && npm run --silent lint

# Long fuzz runs of every decoder (≥ 1 M executions each).
fuzz:
	@bash scripts/fuzz.sh $(LONG_FUZZTIME)

bench: services build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/geo/... ./pkg/geofence/... ./pkg/rules/... ./pkg/jt808/... ./pkg/jt809 ./pkg/j1939/... ./pkg/tracking/...
	$(BIN) bench geofence
	$(BIN) bench e2e $(E2E_ARGS)

# Faults under steady load (not part of `make test`): engine SIGKILL, NATS restarts (embedded,
# Debian's nats-server when installed, and a current one built here), PostgreSQL restarts (a
# throwaway cluster, never the machine's own); exits non-zero on a failed check.
CHAOS_ARGS ?=
chaos: services build
	$(GO) build -o bin/nats-server github.com/nats-io/nats-server/v2
	$(BIN) chaos $(CHAOS_ARGS)

# Vendor the screen's front-end packages from npm into web/vendor (committed; the build needs no network).
web:
	@bash scripts/web-vendor.sh

# Render benchmark of the monitoring screen: frame times at 10k and 100k vehicles in headless chromium.
bench-web: services
	@WEB_TEST_MODE=bench bash scripts/web-test.sh

clean:
	rm -rf bin data
