# rtmcall: `make run` starts the server with the demo page, `make test` runs every test.
# Both work on a fresh Debian machine: `make deps` (run by `make test`) installs what the tests need.

GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
TOOLS   := $(CURDIR)/.bin
export PATH := $(TOOLS):$(PATH)

# The browser module (web/): its version comes from web/package.json; the wasm build uses its own
# generated go.mod (internal/wasmbuild) so that net/http stays out of the module.
VERSION            := $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' web/package.json)
WASM_MOD           := $(TOOLS)/wasm/rtmcall-wasm.mod
TYPESCRIPT_VERSION := 5.9.3
TSC                := $(TOOLS)/npm/node_modules/.bin/tsc
# The bundlers internal/pagetest TestBundlers builds an app with (into .bin/bundlers, pinned).
BUNDLERS           := vite@8.4.0 webpack@5.113.0 webpack-cli@7.3.1 rollup@4.68.8 @rollup/plugin-node-resolve@16.0.3 \
                      @web/rollup-plugin-import-meta-assets@2.3.3 esbuild@0.28.2
BUNDLERS_STAMP     := $(TOOLS)/bundlers/.installed

.PHONY: all build run test test-native test-fuzz-seeds deps lint clean bench

all: build

## build: the server binary in bin/, and the browser module in web/ (rtmcall.wasm, wasm_exec.js)
build: wasm
	$(GO) build -o bin/rtmcall-server ./cmd/rtmcall-server

## wasm: web/rtmcall.wasm (GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w", printed as it runs),
## web/wasm_exec.js (the same toolchain's, wrapped as an ES module that sets no global), then the files the
## server serves, with brotli-11 and gzip-9 variants, into server/static/assets/ (embedded in the binary)
.PHONY: wasm
wasm:
	$(GO) run ./internal/wasmbuild/buildwasm -o web/rtmcall.wasm -version $(VERSION) -wasm-exec web/wasm_exec.js \
		-assets server/static/assets

## run: build everything and start the server in dev mode; it prints the page's URL (http://127.0.0.1:8080/)
run: build
	bin/rtmcall-server -dev

## test: every test: vet (native and wasm), native tests with -race (they include the page tests in
## headless Chromium, internal/pagetest), Go tests compiled to wasm in headless Chromium, the TypeScript types
test: deps lint test-native test-wasm test-types test-bench

test-native:
	$(GO) test -race -count=1 ./...

## test-wasm: jsbridge's tests, and core's that build for the browser (its state machines, Options.TLSConfig
## there), compiled to wasm, in headless Chromium (wasmbrowsertest) against a live server that internal/wasmexec starts
.PHONY: test-wasm test-browser test-types pack
test-wasm:
	$(GO) run ./internal/wasmbuild/buildwasm -modfile-only >/dev/null
	GOOS=js GOARCH=wasm $(GO) test -modfile=$(WASM_MOD) -count=1 -exec=$(TOOLS)/rtmcall_wasm_exec ./jsbridge/... ./core

## test-browser: only the page tests (also part of test-native); screenshots go to .artifacts/pagetest/
test-browser:
	$(GO) test -count=1 -v ./internal/pagetest/

## test-types: tsc --strict over web/rtmcall.d.ts and the typed example web/example.ts
test-types:
	$(TSC) --noEmit -p web/tsconfig.json

## pack: the npm package of web/ (after build), in bin/
pack: build
	cd web && npm pack --pack-destination $(CURDIR)/bin

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./...

## deps: install what the tests need (idempotent): Go modules, Chromium, the wasm test runner
## (wasmbrowsertest as .bin/go_js_wasm_exec, and its wrapper .bin/rtmcall_wasm_exec), TypeScript, the bundlers
deps:
	@$(GO) mod download
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	@command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	GOOS= GOARCH= $(GO) build -o $(TOOLS)/go_js_wasm_exec github.com/agnivade/wasmbrowsertest
	GOOS= GOARCH= $(GO) build -o $(TOOLS)/rtmcall_wasm_exec ./internal/wasmexec
	@$(TSC) --version 2>/dev/null | grep -qF $(TYPESCRIPT_VERSION) || \
		npm install --prefix $(TOOLS)/npm --no-save --no-audit --no-fund --loglevel=error typescript@$(TYPESCRIPT_VERSION)
	@test "$$(cat $(BUNDLERS_STAMP) 2>/dev/null)" = "$(BUNDLERS)" || { \
		npm install --prefix $(TOOLS)/bundlers --no-save --no-audit --no-fund --loglevel=error $(BUNDLERS) && \
		echo "$(BUNDLERS)" > $(BUNDLERS_STAMP); }

clean:
	rm -rf bin .bin web/rtmcall.wasm web/wasm_exec.js
	find server/static/assets -type f ! -name README.md -delete

## bench: the benchmark suite against a baseline relay and Centrifugo, loopback only (about 9 minutes on 2
## cores with a 2m10s idle phase for steady-state memory, more when other programs disturb it and phases run again):
## rewrites docs/BENCHMARKS.md and docs/latency.svg. BENCH_FLAGS sizes it (go run ./cmd/rtmcall-bench -h).
## Centrifugo, the peer it measures side by side (bench/centrifugo.go): the pinned version, built from the module
## proxy into .bin/ when missing (about 10 minutes the first time). CENTRIFUGO= skips it; CENTRIFUGO=path uses another.
BENCH_FLAGS ?=
CENTRIFUGO_VERSION := v6.9.1
CENTRIFUGO         ?= $(TOOLS)/centrifugo
bench: build $(if $(filter $(TOOLS)/centrifugo,$(CENTRIFUGO)),centrifugo)
	$(GO) run ./cmd/rtmcall-bench -server bin/rtmcall-server $(if $(CENTRIFUGO),-centrifugo $(CENTRIFUGO)) \
		-out docs/BENCHMARKS.md $(BENCH_FLAGS)

.PHONY: centrifugo
centrifugo:
	@test -x $(TOOLS)/centrifugo && test "$$(cat $(TOOLS)/centrifugo.version 2>/dev/null)" = "$(CENTRIFUGO_VERSION)" || { \
		GOBIN=$(TOOLS) $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION) && \
		echo "$(CENTRIFUGO_VERSION)" > $(TOOLS)/centrifugo.version; }

## test-bench: every Go benchmark once (-benchtime=1x), to prove it still works; not a timing
.PHONY: test-bench
test-bench:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...

## soak: the load-and-chaos soak (package soak), loopback only: 1,000 clients on in-process nodes run
## 100,000 invitation flows with random actions (answers, cancels, expiry, races, devices that close, log
## out, lose their connection and resume); every invitation is checked against the protocol's invariants,
## then goroutines and heap against their baseline. Fails on any violation or past 15 minutes (it takes 1 to
## 3 minutes on 2 cores). SOAK_FLAGS sizes it (go run ./cmd/rtmcall-soak -h); `make test` runs a short version.
.PHONY: soak
SOAK_FLAGS ?=
soak:
	$(GO) run ./cmd/rtmcall-soak -clients 1000 -flows 100000 -time-limit 15m $(SOAK_FLAGS)

## soak-cluster: the soak on three clustered nodes (embedded NATS servers joined by routes, loopback) behind a
## load balancer in the harness, with clients spread over the nodes, and chaos while the flows run, by turns: a
## node killed abruptly and restarted, a rolling restart (each node killed and restarted in turn), a partition
## (a node's NATS routes cut, then healed), loss between two nodes (dropped, reordered and delayed messages),
## and a drained rolling restart (each node drained, its clients moved, then restarted); the flows go on until
## each kind has struck. Prints the flows, node deaths, partitions, restarts, drains, loss windows, the
## violations (must be 0; see docs/CLUSTER.md) and the longest wait of a party for its terminal event.
## SOAK_FLAGS sizes it as for soak; `make test` runs a short version with a partition, a kill-restart, loss and
## a drained rolling restart (TestSoakClusterShort; -soak.chaos picks other kinds: docs/CLUSTER.md "The short test").
.PHONY: soak-cluster
soak-cluster:
	$(GO) run ./cmd/rtmcall-soak -cluster 3 -chaos kill-restart,rolling-restart,partition,loss,drain -clients 1000 -flows 100000 -time-limit 20m $(SOAK_FLAGS)
