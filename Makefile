# qualdial — the commands the README and CI use.
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 60s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build test test-private test-clocks lint fuzz bench bench-replicas run clean editor-bundle

all: lint test build

## build: the qualdial binary in bin/
build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/qualdial ./cmd/qualdial

## test: every test, with the race detector (the README's test command),
## then the phone fast path's differential test on its full 1M+ numbers
## without it (the race detector makes libphonenumber ~10× slower), then
## the deploy files' checks (a module of their own: deploy/check).
## Most tests wait on calls and timers, not the CPU: run 6 at once per
## package rather than one per core.
PARALLEL ?= 6
test:
	$(GO) test -race -count=1 -parallel $(PARALLEL) $(PKGS)
	$(GO) test -count=1 -run '^TestFastPhoneDifferential$$' ./intake
	cd deploy/check && $(GO) test -count=1 ./...

## test-private: the database tests against a private PostgreSQL started from
## the system binaries, as on a machine with no server running
test-private:
	QUALDIAL_TEST_PG=private $(GO) test -count=1 -parallel $(PARALLEL) ./migrations/... ./internal/... ./cmd/...

## test-clocks: the dialing and storage suites with the product's clock set to
## the awkward hours (New York wall time) and across both DST changes: they
## must pass at any hour. The starvation test (its 1.2M leads sit in
## daytime zones whatever the clock) runs once, in make test.
CLOCKS ?= 00:30 08:59 13:00 21:30 2027-03-14T01:59:00-05:00 2027-11-07T01:59:00-04:00
test-clocks:
	@for c in $(CLOCKS); do echo "== QUALDIAL_TEST_CLOCK=$$c"; QUALDIAL_TEST_CLOCK=$$c $(GO) test -count=1 -parallel $(PARALLEL) -skip '^TestFreshLeadsFirst$$' ./queue/... ./store/... || exit 1; done

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd deploy/check && $(GO) vet ./...

## fuzz: the script loader and engine, RFC 4733, SDP, Identity and CSV readers, FUZZTIME each
fuzz:
	$(GO) test ./ivr -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./ivr -run '^$$' -fuzz '^FuzzEngine$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./dialer/media -run '^$$' -fuzz '^FuzzParseEvent$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./dialer/media -run '^$$' -fuzz '^FuzzParseSDP$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./dialer/sip -run '^$$' -fuzz '^FuzzPassportAttest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./intake -run '^$$' -fuzz '^FuzzCSV$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0
	$(GO) test ./intake -run '^$$' -fuzz '^FuzzBuild$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0

## bench: all benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-replicas: the load run — three serve replicas on one PostgreSQL,
## BENCH_CALLS calls at once at up to BENCH_CPS calls/s, against softphone
## processes: calls/s, PostgreSQL transactions and CPU per call
BENCH_CALLS ?= 150
BENCH_CPS   ?= 50
bench-replicas:
	QUALDIAL_BENCH_CALLS=$(BENCH_CALLS) QUALDIAL_BENCH_CPS=$(BENCH_CPS) $(GO) test -run '^$$' -bench '^BenchmarkReplicas$$' -benchtime 1x -timeout 30m ./cmd/qualdial

## run: qualdial serve on its defaults (private PostgreSQL, 127.0.0.1:8080)
run:
	$(GO) run ./cmd/qualdial serve

## editor-bundle: rebuild the script editor's CodeMirror bundle (needs Node
## and npm; the result is committed, see web/assets/src/README.md)
editor-bundle:
	sh web/assets/src/build.sh

clean:
	rm -rf bin
