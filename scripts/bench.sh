#!/usr/bin/env bash
# `make bench`: end-to-end speed and memory on a release build. Everything on this machine:
# a throwaway Postgres (synchronous commit on), `cashier kafka-dev`, `cashier sandbox`, one
# `cashier worker`. Each scenario publishes orders and waits for every result event; the
# summary's throughput and latency are publish → result on payments.results.
#
# Scenarios (choose with BENCH_SCENARIOS="1 2 3 4"; sizes with BENCH_ORDERS,
# BENCH_LATENCY_ORDERS, BENCH_RETRY_ORDERS):
#   1. 0 ms channel latency, publish as fast as possible          → orders/s
#   2. 100 ms channel latency, --concurrency 256                   → orders/s
#   3. 1,000 orders/s offered, 0 ms channel latency                → p99 latency
#   4. 10,000 orders, 20% failing transiently twice, with `cashier retry-worker`
#      → orders/s, the share of retried orders whose every retry started within its backoff
#        bound (≤ d + 1 s after the call before it), the retry worker's peak memory
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

retry_orders=${BENCH_RETRY_ORDERS:-10000}
retry_flags=(--retry-base-ms 500 --retry-factor 2 --retry-max-ms 30000 --retry-max-attempts 8)

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
    "$bin" worker --brokers "$brokers" --concurrency "$3" --http-port 0 --kafka-option fetch.wait.max.ms=5 "${retry_flags[@]}" \
    2>"$work/$1.worker.log" &
  worker=$!
  pids+=($worker)
  until grep -q "partitions assigned" "$work/$1.worker.log" 2>/dev/null; do sleep 0.2; done
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

scenarios=" ${BENCH_SCENARIOS:-1 2 3 4} "
wanted() { [[ "$scenarios" == *" $1 "* ]]; }

if wanted 1; then
start_worker fast 0 64
run "1. ${orders} orders, 0 ms channel latency, concurrency 64" --count "$orders" --rate 0
kill -TERM "$worker"; wait "$worker" 2>/dev/null || true
fi

if wanted 2; then
start_worker slow 100 256
run "2. ${orders} orders, 100 ms channel latency, concurrency 256" --count "$orders" --rate 0
kill -TERM "$worker"; wait "$worker" 2>/dev/null || true
fi

start_worker steady 0 64
if wanted 3; then
# Warm up first: the first fetches after a group join are slow on the dev broker.
"$bin" publish --brokers "$brokers" --count 200 --await-results --kafka-option fetch.wait.max.ms=5 >/dev/null 2>&1
run "3. ${latency_orders} orders offered at 1,000/s, 0 ms channel latency" --count "$latency_orders" --rate 1000 --kafka-option fetch.wait.max.ms=5
run "3b. ${latency_orders} orders offered at 500/s, 0 ms channel latency" --count "$latency_orders" --rate 500 --kafka-option fetch.wait.max.ms=5
fi

wanted 4 || exit 0
# 4. Retries: the same worker plus a retry worker sharing its sandbox.
CASHIER_CARD_URL=$(sed -n 's/^sandbox=//p' "$work/steady.sandbox") CASHIER_CARD_API_KEY=sk_bench \
  "$bin" retry-worker --brokers "$brokers" --http-port 0 --kafka-option fetch.wait.max.ms=5 "${retry_flags[@]}" 2>"$work/retry.log" &
retry_worker=$!
pids+=($retry_worker)
until grep -q "partitions assigned" "$work/retry.log" 2>/dev/null; do sleep 0.2; done
sleep 3
run "4. ${retry_orders} orders, 20% failing twice before they charge (waits ≤ 0.5 s, then ≤ 1 s)" \
  --count "$retry_orders" --rate 0 --transient-share 0.2 --run-id retrybench
psql -q -t -A "$CASHIER_DATABASE_URL" <<'SQL' | sed 's/^/retried orders within their backoff bound: /'
WITH waits AS (
  SELECT a.payment_id, a.attempt_no - 1 AS k,
         extract(epoch FROM a.started_at - prev.finished_at) * 1000 AS waited_ms
  FROM payment_attempts a
  JOIN payment_attempts prev ON prev.payment_id = a.payment_id AND prev.attempt_no = a.attempt_no - 1
  JOIN payments p ON p.payment_id = a.payment_id
  WHERE p.order_id LIKE 'ord_retrybench_%'
), per_order AS (
  SELECT payment_id, bool_and(waited_ms <= least(30000, 500 * power(2, k - 1)) + 1000) AS within FROM waits GROUP BY payment_id
)
SELECT count(*) FILTER (WHERE within) || ' of ' || count(*) || ' (' ||
       round(100.0 * count(*) FILTER (WHERE within) / greatest(count(*), 1), 1) || '%)'
FROM per_order;
SQL
psql -q -t -A -F ' ' "$CASHIER_DATABASE_URL" <<'SQL' | awk '{printf "retry %s started after the call before it: p50 %s ms, p99 %s ms (bound %s ms)\n", $1, $2, $3, $4}'
SELECT a.attempt_no - 1,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - prev.finished_at) * 1000)),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - prev.finished_at) * 1000)),
       least(30000, 500 * power(2, a.attempt_no - 2))
FROM payment_attempts a
JOIN payment_attempts prev ON prev.payment_id = a.payment_id AND prev.attempt_no = a.attempt_no - 1
JOIN payments p ON p.payment_id = a.payment_id
WHERE p.order_id LIKE 'ord_retrybench_%'
GROUP BY a.attempt_no ORDER BY a.attempt_no;
SQL
psql -q -t -A -F ' ' "$CASHIER_DATABASE_URL" <<'SQL' | awk '{printf "outbox → Kafka lag of %s messages: p50 %s ms, p99 %s ms\n", $1, $2, $3}'
SELECT kind,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at) * 1000)),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at) * 1000))
FROM outbox WHERE message_key LIKE 'ord_retrybench_%' GROUP BY kind ORDER BY kind;
SQL
echo "retry worker peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' "/proc/$retry_worker/status")"
