# Cashier — the two commands that matter: `make demo` and `make test`.
.PHONY: all build deps demo test bench clean

all: build

deps:
	@scripts/ensure-deps.sh

build: deps
	swift build

# The whole pipeline on embedded defaults: 1,000 orders end to end, then a summary.
demo:
	@scripts/demo.sh

# Unit tests and end-to-end tests (real Postgres, dev Kafka broker over TCP, sandbox over HTTP).
test:
	@scripts/test.sh

# Throughput, latency and memory, on a release build (see README, Benchmarks).
bench:
	@scripts/bench.sh

clean:
	rm -rf .build
