# liveorigin: `make run` starts the server with built-in defaults, `make test` runs every test.
GO       ?= go
BIN      := bin/liveorigin
ARGS     ?=
FUZZTIME ?= 30s

.PHONY: run build test unit e2e bench fuzz deps vet clean

run: build
	./$(BIN) $(ARGS)

build:
	$(GO) build -o $(BIN) ./cmd/liveorigin

# Every test: unit tests, fuzz seed corpora, golden files and the end-to-end
# tests with real ffmpeg/ffprobe/promtool (installed by `make deps` when missing).
test: deps vet
	$(GO) test -race -count=1 -timeout 12m ./...

vet:
	@out=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

# Runs every fuzz target for FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Installs the real peers the tests use (Debian packages) when missing.
deps:
	@scripts/deps.sh

clean:
	rm -rf bin
