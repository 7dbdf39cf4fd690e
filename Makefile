# Corridor — two commands: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/corridor
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Fuzz time per target inside `make test` (short); `make fuzz` runs long.
FUZZTIME ?= 5s
LONG_FUZZTIME ?= 1000000x

.PHONY: run build services test unit fuzz-short fuzz bench lint clean web bench-web

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/corridor

services:
	@bash scripts/services.sh

# Start PostGIS (installing it when absent) and serve on :8080 with embedded NATS — or the NATS
# server already answering on 127.0.0.1:4222 — and the JT/T 808 gateway on :6808, with the
# Changshou demo fleet (`make run ARGS=` for none).
ARGS ?= --demo
run: services build
	@bash scripts/run.sh $(BIN) $(ARGS)

test: services
	@bash scripts/test.sh

lint:
	gofmt -l $$(git ls-files '*.go') | (! grep .)
	$(GO) vet ./...
	$$( $(GO) env GOPATH )/bin/staticcheck ./... 2>/dev/null || $(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

# Long fuzz runs of every decoder (≥ 1 M executions each).
fuzz:
	@bash scripts/fuzz.sh $(LONG_FUZZTIME)

bench: services build
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/geo/... ./pkg/geofence/... ./pkg/rules/... ./pkg/jt808/... ./pkg/j1939/... ./pkg/tracking/...
	$(BIN) bench geofence

# Vendor the screen's front-end packages from npm into web/vendor (committed; the build needs no network).
web:
	@bash scripts/web-vendor.sh

# Render benchmark of the monitoring screen: frame times at 10k and 100k vehicles in headless chromium.
bench-web: services
	@WEB_TEST_MODE=bench bash scripts/web-test.sh

clean:
	rm -rf bin data
