# liveorigin: `make run` starts the server with built-in defaults, `make test` runs every test.
GO       ?= go
BIN      := bin/liveorigin
ARGS     ?=
FUZZTIME ?= 30s

.PHONY: run build build-libsrt test unit e2e bench probe battery fuzz deps vet clean

run: build
	./$(BIN) $(ARGS)

build:
	$(GO) build -o $(BIN) ./cmd/liveorigin

# The same daemon with SRT through the reference libsrt (cgo; needs Debian's libsrt-openssl-dev).
build-libsrt:
	$(GO) build -tags libsrt -o $(BIN) ./cmd/liveorigin

# Every test: unit tests, fuzz seed corpora, golden files and the end-to-end
# tests with real ffmpeg/ffprobe/promtool (installed by `make deps` when missing).
test: deps vet
	$(GO) test -race -count=1 -timeout 12m ./...
	@if pkg-config --exists srt 2>/dev/null; then \
		echo "SRT tests again with libsrt (-tags libsrt)"; \
		$(GO) test -race -count=1 -timeout 5m -tags libsrt ./ingest/srt/...; \
	else \
		echo "libsrt not installed: SRT tested with the pure-Go transport only (apt-get install libsrt-openssl-dev for both)"; \
	fi

vet:
	@out=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

# The Go benchmarks, then the LL-HLS latency probe (docs/low-latency.md, "Measure").
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...
	$(GO) run ./cmd/llprobe -duration 20s

# Only the LL-HLS latency probe: 200 LL-HLS clients and gohlslib on an in-process
# origin, fed by ffmpeg (installed by `make deps`). E.g. PROBE_ARGS="-clients 1 -json".
PROBE_ARGS ?=
probe:
	$(GO) run ./cmd/llprobe $(PROBE_ARGS)

# The hostile-input battery (docs/security.md): starts bin/liveorigin on
# loopback, publishes and plays one clean stream, and runs every hostile
# publisher and client against it. E.g. BATTERY_ARGS="-short" or
# BATTERY_ARGS="-cases rtmp/,http/ -v".
BATTERY_ARGS ?=
battery: build
	$(GO) run ./cmd/battery -liveorigin $(BIN) $(BATTERY_ARGS)

# Runs every fuzz target for FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Installs the real peers the tests use (Debian packages) when missing.
deps:
	@scripts/deps.sh

clean:
	rm -rf bin
