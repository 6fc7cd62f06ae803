#!/usr/bin/env bash
# `make demo`: the whole pipeline on embedded defaults. Starts a throwaway Postgres (unless
# CASHIER_DATABASE_URL is set), `cashier dev` (dev Kafka broker, channel sandbox speaking the
# card, Alipay and WeChat Pay protocols, worker, retry worker, notify server), publishes 1,000
# orders across the three channels with some declines, transient card failures, an
# unavailable card and invalid events, waits for every result, prints a summary and the dead
# letters, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
# A release build: the demo shows realistic speed (the first build takes several minutes).
echo "building cashier (release)…" >&2
swift build -c release 2>&1 | tail -n 1 >&2
bin=.build/release/cashier

work=$(mktemp -d /tmp/cashier-demo.XXXXXX)
dev_pid=""
pgdir=""
cleanup() {
  if [ -n "$dev_pid" ]; then kill -TERM "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  if [ -n "$pgdir" ]; then scripts/throwaway-postgres.sh stop "$pgdir"; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${CASHIER_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/cashier-demo-pg.XXXXXX)
  CASHIER_DATABASE_URL=$(scripts/throwaway-postgres.sh start "$pgdir")
  echo "started a throwaway Postgres: $CASHIER_DATABASE_URL" >&2
fi
export CASHIER_DATABASE_URL

# Port 0: the sandbox picks a free port, so two demos (or a demo and a sandbox) never clash.
# Short backoff (waits up to 0.2, 0.4, 0.8 s; 4 calls) so retried orders finish within the demo.
# The sandbox's card search sees a charge at once, so its "no charge" is believed after 2 s
# rather than the 60 s Stripe's search index may lag (the production default): a card order
# whose last call got a 5xx is looked up before it may fail, and would otherwise end a minute late.
CASHIER_LOOKUP_SEARCH_LAG_MS="${CASHIER_LOOKUP_SEARCH_LAG_MS:-2000}" "$bin" dev --port 0 --bootstrap-file "$work/bootstrap" --retry-base-ms 200 --retry-max-ms 2000 --retry-max-attempts 4 \
  >"$work/dev.out" 2>"$work/dev.log" &
dev_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/bootstrap" ] && grep -q '^sandbox=' "$work/dev.out" && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.2
done
# Publish once the worker owns its partitions (a group join takes a few seconds), so the
# latency figures measure the pipeline, not the start-up.
for _ in $(seq 1 150); do
  [ "$(grep -c "partitions assigned" "$work/dev.log")" -ge 2 ] && break
  sleep 0.2
done
brokers=$(cat "$work/bootstrap")
echo "dev broker at $brokers, $(grep '^sandbox=' "$work/dev.out")" >&2

# A few warm-up orders first: the first fetches after a group join are slow on the dev broker.
"$bin" publish --brokers "$brokers" --count 20 --await-results --timeout-s 60 --kafka-option fetch.wait.max.ms=10 >/dev/null

"$bin" publish --brokers "$brokers" --count "${DEMO_ORDERS:-1000}" --invalid "${DEMO_INVALID:-30}" \
  --rate "${DEMO_RATE:-100}" --channel mixed --transient-share 0.05 --unavailable-share 0.01 \
  --await-results --timeout-s 120 --kafka-option fetch.wait.max.ms=10

echo
echo "dead letters (cashier dlq list; replay with cashier dlq replay --id ID):"
"$bin" dlq list >"$work/dlq.txt"
head -n 6 "$work/dlq.txt"
if [ "$(wc -l <"$work/dlq.txt")" -gt 7 ]; then echo "…"; tail -n 1 "$work/dlq.txt"; fi

sandbox=$(grep '^sandbox=' "$work/dev.out" | cut -d= -f2-)
echo "sandbox charges (20 warm-up orders included): $(curl -s "$sandbox/_sandbox/charges" | python3 -c '
import collections, json, sys
d = json.load(sys.stdin)
per = collections.Counter(c["channel"] for c in d["charges"] if c["status"] == "succeeded")
print(d["count"], "executed,", d["succeeded"], "succeeded (" + ", ".join(f"{k} {v}" for k, v in sorted(per.items())) + ")")')"
echo "worker log: $(grep -c . "$work/dev.log") lines (kept only for this run)" >&2
