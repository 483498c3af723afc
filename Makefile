# rtmcall: `make run` starts the server with the demo page, `make test` runs every test.
# Both work on a fresh Debian machine: `make deps` (run by `make test`) installs what the tests need.

GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
TOOLS   := $(CURDIR)/.bin
export PATH := $(TOOLS):$(PATH)

.PHONY: all build run test test-native test-fuzz-seeds deps lint clean

all: build

## build: the server binary in bin/
build:
	$(GO) build -o bin/rtmcall-server ./cmd/rtmcall-server

## run: build everything and start the server in dev mode on http://127.0.0.1:8080/
run: build
	bin/rtmcall-server -dev

## test: every test: vet (native and wasm), native tests with -race, fuzz seed corpora
test: deps lint test-native

test-native:
	$(GO) test -race -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./...

## deps: install what the tests need (idempotent)
deps:
	@$(GO) mod download

clean:
	rm -rf bin .bin
