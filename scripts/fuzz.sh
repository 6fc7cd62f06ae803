#!/usr/bin/env bash
# Fuzzes the strict inbound JSON parser (Sources/CashierJSON) with libFuzzer for a bounded time,
# starting from the bad-input corpus in Tests/FuzzCorpus/JSONParser. Its own build path, so the
# sanitizer build never invalidates .build. Fails if libFuzzer finds a crash, a hang or a broken
# invariant (Sources/CashierFuzz); the input that did it is kept in the printed directory.
#
# Usage: scripts/fuzz.sh [SECONDS]   (default 30; CASHIER_FUZZ_SECONDS works too)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${CASHIER_FUZZ_SECONDS:-30}}"
# libFuzzer ships with the Swift toolchain on Linux only (CI's platform).
if [ "$(uname -s)" != Linux ]; then echo "fuzz: skipped, -sanitize=fuzzer needs the Linux toolchain" >&2; exit 0; fi
swift build -c debug --build-path .build-fuzz --product CashierFuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -DCASHIER_FUZZING
fuzzer=".build-fuzz/debug/CashierFuzz"

# libFuzzer adds what it finds to the first corpus directory: a scratch one, so the seeds in
# the repository stay as they are.
work=$(mktemp -d /tmp/cashier-fuzz.XXXXXX)
echo "fuzzing the JSON parser for ${seconds}s (scratch corpus and any crash input: $work)" >&2
"$fuzzer" "$work" Tests/FuzzCorpus/JSONParser \
  -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 2>"$work/fuzz.log" || {
  tail -40 "$work/fuzz.log" >&2
  echo "fuzzing found a problem: see $work" >&2
  exit 1
}
grep -E '^(Done [0-9]+ runs|stat::new_units_added)' "$work/fuzz.log" >&2 || true
rm -rf "$work"
