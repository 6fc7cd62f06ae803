#!/usr/bin/env bash
# `make test`: unit tests and end-to-end tests against a real Postgres and the dev Kafka
# broker over TCP. Uses CASHIER_TEST_DATABASE_URL when set, else a throwaway Postgres cluster
# of its own; uses CASHIER_TEST_KAFKA_BROKERS when set, else `cashier kafka-dev`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
swift build --build-tests

cleanup=""
if [ -z "${CASHIER_TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/cashier-test-pg.XXXXXX)
  cleanup="scripts/throwaway-postgres.sh stop $pgdir"
  trap '$cleanup' EXIT
  CASHIER_TEST_DATABASE_URL=$(scripts/throwaway-postgres.sh start "$pgdir")
  export CASHIER_TEST_DATABASE_URL
fi
export CASHIER_BIN="$PWD/.build/debug/cashier"

swift test --skip-build "$@"
