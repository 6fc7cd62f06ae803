#!/usr/bin/env bash
# `make bench`: end-to-end speed and memory on a release build. Everything on this machine:
# a throwaway Postgres (synchronous commit on), `cashier kafka-dev`, `cashier sandbox`, one
# `cashier worker`. Each scenario publishes orders and waits for every result event; the
# summary's throughput and latency are publish → result on payments.results.
#
# Scenarios (override the sizes with BENCH_ORDERS, BENCH_LATENCY_ORDERS):
#   1. 0 ms channel latency, publish as fast as possible          → orders/s
#   2. 100 ms channel latency, --concurrency 256                   → orders/s
#   3. 1,000 orders/s offered, 0 ms channel latency                → p99 latency
# and the worker's peak resident memory (VmHWM) over all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
swift build -c release 2>&1 | tail -n 1
bin=.build/release/cashier
orders=${BENCH_ORDERS:-50000}
latency_orders=${BENCH_LATENCY_ORDERS:-20000}

work=$(mktemp -d /tmp/cashier-bench.XXXXXX)
pgdir=$(mktemp -d /tmp/cashier-bench-pg.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/throwaway-postgres.sh stop "$pgdir"
  rm -rf "$work"
}
trap cleanup EXIT

export CASHIER_DATABASE_URL
CASHIER_DATABASE_URL=$(scripts/throwaway-postgres.sh start "$pgdir")
"$bin" migrate >/dev/null

start_worker() { # $1 = name, $2 = sandbox latency ms, $3 = concurrency
  "$bin" kafka-dev --partitions 12 >"$work/$1.broker" 2>/dev/null &
  pids+=($!)
  "$bin" sandbox --port 0 --latency-ms "$2" >"$work/$1.sandbox" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q '^bootstrap=' "$work/$1.broker" 2>/dev/null && grep -q '^sandbox=' "$work/$1.sandbox" 2>/dev/null && break
    sleep 0.1
  done
  brokers=$(sed -n 's/^bootstrap=//p' "$work/$1.broker")
  CASHIER_CARD_URL=$(sed -n 's/^sandbox=//p' "$work/$1.sandbox") CASHIER_CARD_API_KEY=sk_bench \
    "$bin" worker --brokers "$brokers" --concurrency "$3" --kafka-option fetch.wait.max.ms=5 \
    2>"$work/$1.worker.log" &
  worker=$!
  pids+=($worker)
  until grep -q "partitions assigned" "$work/$1.worker.log"; do sleep 0.2; done
  # The consumer-group join settles in a second round; publish after it.
  sleep 3
}

peak_memory() { awk '/VmHWM/ {printf "%.0f MB", $2/1024}' "/proc/$worker/status"; }

run() { # $1 = title, then publish flags
  local title=$1; shift
  echo
  echo "== $title"
  "$bin" publish --brokers "$brokers" --await-results --timeout-s 900 --decline-share 0.02 "$@" 2>/dev/null \
    | grep -E 'results|throughput|latency|by status'
  echo "worker peak RSS: $(peak_memory)"
}

start_worker fast 0 64
run "1. ${orders} orders, 0 ms channel latency, concurrency 64" --count "$orders" --rate 0
kill -TERM "$worker"; wait "$worker" 2>/dev/null || true

start_worker slow 100 256
run "2. ${orders} orders, 100 ms channel latency, concurrency 256" --count "$orders" --rate 0
kill -TERM "$worker"; wait "$worker" 2>/dev/null || true

start_worker steady 0 64
# Warm up first: the first fetches after a group join are slow on the dev broker.
"$bin" publish --brokers "$brokers" --count 200 --await-results --kafka-option fetch.wait.max.ms=5 >/dev/null 2>&1
run "3. ${latency_orders} orders offered at 1,000/s, 0 ms channel latency" --count "$latency_orders" --rate 1000 --kafka-option fetch.wait.max.ms=5
run "3b. ${latency_orders} orders offered at 500/s, 0 ms channel latency" --count "$latency_orders" --rate 500 --kafka-option fetch.wait.max.ms=5
