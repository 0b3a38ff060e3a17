#!/usr/bin/env bash
# Output-capture benchmark (issue 14; see BENCHMARKS.md, "Output capture"): wall time of
#   1. one passing test that prints 100 MB, and
#   2. 200 passing tests that print 1 MB each,
# under `cargo test`, `cargo nextest run`, and `cargo shardtest` in process and batch mode
# (plus process mode with `-- --nocapture`, which is how the runner captured before).
# Not part of the CI test run. Medians of BENCH_RUNS runs (default 3) after one warm-up.
#
#   scripts/bench-capture.sh                 # about 3-6 minutes on 2 cores
#
# Environment: BENCH_RUNS (3), BENCH_JOBS (2: -j / --test-threads),
#   RUNNER_BIN (default: builds target/release/cargo-shardtest),
#   CHATTY_TARGET_DIR (default: <repo>/target/bench-chatty).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${BENCH_RUNS:-3}"
JOBS="${BENCH_JOBS:-2}"
MANIFEST="$ROOT/tests/fixtures/chatty/Cargo.toml"
export CARGO_TARGET_DIR="${CHATTY_TARGET_DIR:-$ROOT/target/bench-chatty}"
if [[ -z "${RUNNER_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p cargo-shardtest)
    RUNNER_BIN="$ROOT/target/release/cargo-shardtest"
fi
TIMINGS="$(mktemp -d)/timings.json"

cargo test -q --manifest-path "$MANIFEST" --no-run 2>/dev/null
cargo nextest list --manifest-path "$MANIFEST" >/dev/null 2>&1 || true

# median of the wall times (seconds) of running "$@" RUNS times, after one warm-up run
median() {
    "$@" >/dev/null 2>&1 || true
    local times=()
    for _ in $(seq "$RUNS"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        e=$(date +%s.%N)
        times+=("$(echo "$e - $s" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}

echo "| suite | cargo test | cargo nextest run | shardtest process | shardtest batch | shardtest process, \`--nocapture\` (before) |"
echo "| --- | --- | --- | --- | --- | --- |"
for t in big many; do
    echo "measuring $t ..." >&2
    ct=$(median cargo test -q --manifest-path "$MANIFEST" --test "$t" -- --test-threads "$JOBS")
    nx=$(median cargo nextest run --manifest-path "$MANIFEST" --test "$t" -j "$JOBS")
    sp=$(median "$RUNNER_BIN" shardtest --manifest-path "$MANIFEST" --test "$t" -j "$JOBS" --timings "$TIMINGS")
    sb=$(median "$RUNNER_BIN" shardtest --manifest-path "$MANIFEST" --test "$t" -j "$JOBS" --timings "$TIMINGS" --isolation batch)
    sn=$(median "$RUNNER_BIN" shardtest --manifest-path "$MANIFEST" --test "$t" -j "$JOBS" --timings "$TIMINGS" -- --nocapture)
    name=$([[ $t == big ]] && echo "1 test, 100 MB" || echo "200 tests, 1 MB each")
    echo "| $name | ${ct} s | ${nx} s | ${sp} s | ${sb} s | ${sn} s |"
done
