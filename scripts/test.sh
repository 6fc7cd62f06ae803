#!/usr/bin/env bash
# `make test`: unit tests and end-to-end tests against a real Postgres and the dev Kafka
# broker over TCP. Uses CASHIER_TEST_DATABASE_URL when set, else a throwaway Postgres cluster
# of its own; uses CASHIER_TEST_KAFKA_BROKERS when set, else `cashier kafka-dev`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
# The deployment manifests (kubernetes-validate, promtool, and against the code) and the event
# contracts.
python3 scripts/check-deploy.py
python3 scripts/check-contracts.py
swift build --build-tests
# The strict inbound JSON parser under libFuzzer, from the bad-input corpus, for a bounded time
# (its own build path: the sanitizer build leaves .build alone).
scripts/fuzz.sh "${CASHIER_FUZZ_SECONDS:-30}"

export CASHIER_BIN="$PWD/.build/debug/cashier"
pgdir=""
cleanup() {
  # The tests start kafka-dev, sandbox and worker processes; none may outlive the run.
  pkill -KILL -f "^$CASHIER_BIN " 2>/dev/null || true
  if [ -n "$pgdir" ]; then scripts/throwaway-postgres.sh stop "$pgdir"; fi
}
trap cleanup EXIT
if [ -z "${CASHIER_TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/cashier-test-pg.XXXXXX)
  CASHIER_TEST_DATABASE_URL=$(scripts/throwaway-postgres.sh start "$pgdir")
  export CASHIER_TEST_DATABASE_URL
fi

# One at a time: the end-to-end suites share one pipeline, and some kill or add its processes.
swift test --skip-build --no-parallel "$@"
