#!/usr/bin/env bash
# Overhead benchmark: full runs of N trivial synthetic tests under libtest (the test binary
# directly, and `cargo test`), `cargo nextest run` and `cargo shardtest run`, all on the same
# test binary at the same parallelism; median wall time of several runs, as a Markdown table.
# Then the balance bench (`cargo bench -p cargo-shardtest --bench balance`) if it exists.
#
#   scripts/bench.sh                 # everything (see BENCHMARKS.md)
#
# Environment (all optional):
#   BENCH_SIZES="1000 5000"   suite sizes             BENCH_RUNS=5       runs per median
#   BENCH_JOBS=2              -j / --test-threads     BENCH_WARMUP=1     unmeasured runs first
#   BENCH_SKIP_RUNNER=1       do not build or run cargo-shardtest (its cells say "skipped")
#   BENCH_SKIP_BALANCE=1      do not run the balance bench
#   BENCH_NO_HYPERFINE=1      time with date(1) even if hyperfine is installed
#   RUNNER_TARGET_DIR         where cargo-shardtest is built (default: <repo>/target)
#   FIXTURE_TARGET_DIR        where the synthetic suite is built (default: <repo>/target/bench-fixture)
#   BENCH_OUT                 also write the report here (default: <repo>/target/bench/overhead.md)
#   BENCH_RUNNER_ARGS         extra arguments for `cargo shardtest run`
#   BENCH_RUNNER_BIN          use this cargo-shardtest binary instead of building one
# Progress goes to stderr, the report to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES="${BENCH_SIZES:-1000 5000}"
RUNS="${BENCH_RUNS:-5}"
WARMUP="${BENCH_WARMUP:-1}"
JOBS="${BENCH_JOBS:-2}"
RUNNER_TARGET_DIR="${RUNNER_TARGET_DIR:-$ROOT/target}"
FIXTURE_TARGET_DIR="${FIXTURE_TARGET_DIR:-$ROOT/target/bench-fixture}"
BENCH_OUT="${BENCH_OUT:-$ROOT/target/bench/overhead.md}"
FIXTURE_MANIFEST="$ROOT/tests/fixtures/trivial-suite/Cargo.toml"
RUNNER="${BENCH_RUNNER_BIN:-$RUNNER_TARGET_DIR/release/cargo-shardtest}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardtest-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Timing: median wall seconds of "$@" (a shell command string), RUNS runs after WARMUP runs.
# ---------------------------------------------------------------------------------------------
HYPERFINE_SHELL=()
if [[ -z "${BENCH_NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null 2>&1; then
    TIMER="hyperfine $(hyperfine --version | awk '{print $2}')"
    # Without a shell (hyperfine >= 1.13) nothing is spawned besides the command, and there is
    # no shell start-up correction to blur a 10 ms measurement.
    if hyperfine --help 2>/dev/null | grep -q -- '--shell'; then
        HYPERFINE_SHELL=(--shell=none)
        TIMER="$TIMER --shell=none"
    fi
else
    TIMER="date +%s.%N"
fi

median_of() { # numbers on stdin -> median
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1;
        if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

measure() { # measure NAME COMMAND -> prints median seconds; fails if the command fails
    local name="$1" cmd="$2"
    if [[ "$TIMER" == hyperfine* ]]; then
        local json="$WORK/$name.json"
        hyperfine "${HYPERFINE_SHELL[@]}" --style none --runs "$RUNS" --warmup "$WARMUP" \
            --export-json "$json" "$cmd" >&2 || return 1
        # hyperfine 1.15+ stores the median; recompute it from "times" to be version-proof.
        tr -d '\n ' <"$json" | grep -o '"times":\[[^]]*\]' | head -1 |
            sed 's/.*\[//; s/\]//' | tr ',' '\n' | median_of
    else # includes starting bash (about 1-2 ms)
        local i t0 t1
        for ((i = 0; i < WARMUP; i++)); do bash -c "$cmd" >/dev/null 2>&1 || return 1; done
        for ((i = 0; i < RUNS; i++)); do
            t0=$(date +%s.%N)
            bash -c "$cmd" >/dev/null 2>&1 || return 1
            t1=$(date +%s.%N)
            awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.6f\n", a - b }'
        done | median_of
    fi
}

check_ran() { # check_ran NAME N COMMAND -> runs COMMAND once recording every test; prints a
    # problem ("" when each of the N tests ran exactly once)
    local name="$1" n="$2" cmd="$3" rec="$WORK/record-$1.txt" total unique
    rm -f "$rec"
    if ! SHARDTEST_SYNTH_RECORD="$rec" timeout 900 bash -c "$cmd" >"$WORK/probe-$name.log" 2>&1; then
        echo "run fails"
        return
    fi
    total=$( (cat "$rec" 2>/dev/null || true) | wc -l)
    unique=$( (cat "$rec" 2>/dev/null || true) | sort -u | wc -l)
    if [[ "$total" -ne "$n" || "$unique" -ne "$n" ]]; then
        echo "ran $total test executions, $unique distinct, expected $n"
    fi
}

ratio() { # ratio A B -> A/B with 2 decimals, or "-" when either is not a number
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0 && a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/)
        printf "%.2fx", a / b; else printf "-" }'
}

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
RUNNER_STATUS="ok"
if [[ -n "${BENCH_SKIP_RUNNER:-}" ]]; then
    RUNNER_STATUS="skipped (BENCH_SKIP_RUNNER)"
    log "cargo-shardtest: skipped (BENCH_SKIP_RUNNER is set)"
elif [[ -n "${BENCH_RUNNER_BIN:-}" ]]; then
    log "using the runner $RUNNER (BENCH_RUNNER_BIN; not building it)"
    [[ -x "$RUNNER" ]] || RUNNER_STATUS="pending (no such binary)"
else
    log "building the runner: cargo build --release -p cargo-shardtest (target dir $RUNNER_TARGET_DIR)"
    if ! (cd "$ROOT" && CARGO_TARGET_DIR="$RUNNER_TARGET_DIR" cargo build --release -p cargo-shardtest >&2); then
        RUNNER_STATUS="pending (build failed)"
        log "cargo-shardtest does not build yet: its columns will say '$RUNNER_STATUS'"
    fi
fi

export CARGO_TARGET_DIR="$FIXTURE_TARGET_DIR"
log "building the synthetic suite: $FIXTURE_MANIFEST (target dir $FIXTURE_TARGET_DIR)"
cargo test --manifest-path "$FIXTURE_MANIFEST" --no-run --message-format=json 2>/dev/null \
    >"$WORK/build.json" || { cargo test --manifest-path "$FIXTURE_MANIFEST" --no-run; exit 1; }
TEST_BIN="$(grep -o '"executable":"[^"]*"' "$WORK/build.json" | tail -1 | cut -d'"' -f4)"
[[ -x "$TEST_BIN" ]] || { log "could not find the synth test binary in cargo's output"; exit 1; }
log "test binary: $TEST_BIN"
cargo nextest --version >/dev/null 2>&1 || { log "cargo-nextest is required (cargo install cargo-nextest)"; exit 1; }
# nextest builds through cargo too: warm its build (same binary, nothing to rebuild).
cargo nextest run --manifest-path "$FIXTURE_MANIFEST" --no-run >/dev/null 2>&1

# ---------------------------------------------------------------------------------------------
# Overhead: N trivial tests
# ---------------------------------------------------------------------------------------------
ROWS=()
for n in $SIZES; do
    spec="$WORK/spec-$n.json"
    printf '{"seed": 1, "count": %d, "durations": {"kind": "constant", "seconds": 0}}\n' "$n" >"$spec"
    export SHARDTEST_SYNTH_SPEC="$spec"
    listed=$("$TEST_BIN" --list --format terse | wc -l)
    [[ "$listed" -eq "$n" ]] || { log "the suite lists $listed tests, expected $n"; exit 1; }

    direct_cmd="'$TEST_BIN' --test-threads $JOBS"
    cargo_cmd="cargo test -q --manifest-path '$FIXTURE_MANIFEST' -- --test-threads $JOBS"
    nextest_cmd="cargo nextest run --manifest-path '$FIXTURE_MANIFEST' -j $JOBS --no-fail-fast"
    # First one recorded run each: every test must run exactly once, or the time means nothing.
    for pair in "direct:$direct_cmd" "cargo:$cargo_cmd" "nextest:$nextest_cmd"; do
        problem=$(check_ran "${pair%%:*}-$n" "$n" "${pair#*:}")
        if [[ -n "$problem" ]]; then
            log "${pair#*:}: $problem; its output:"
            tail -n 20 "$WORK/probe-${pair%%:*}-$n.log" >&2
            exit 1
        fi
    done

    log "$n tests: test binary directly (--test-threads $JOBS)"
    direct=$(measure "direct-$n" "$direct_cmd")
    log "$n tests: cargo test -- --test-threads $JOBS"
    viacargo=$(measure "cargo-$n" "$cargo_cmd")
    log "$n tests: cargo nextest run -j $JOBS"
    nextest=$(measure "nextest-$n" "$nextest_cmd")

    ours="$RUNNER_STATUS"
    if [[ "$RUNNER_STATUS" == ok ]]; then
        ours_cmd="'$RUNNER' shardtest run -j $JOBS --manifest-path '$FIXTURE_MANIFEST' ${BENCH_RUNNER_ARGS:-}"
        log "$n tests: cargo shardtest run -j $JOBS (one recorded probe run first)"
        problem=$(check_ran "ours-$n" "$n" "$ours_cmd")
        if [[ -z "$problem" ]]; then
            ours=$(measure "ours-$n" "$ours_cmd") || ours="pending (failed while measuring)"
        else
            ours="pending ($problem)"
            log "cargo shardtest run is not usable yet: $problem; last lines of its output:"
            tail -n 15 "$WORK/probe-ours-$n.log" | sed 's/^/    /' >&2
            log "skipping it (its cells say '$ours')"
        fi
    fi
    ROWS+=("| $n | $direct | $viacargo | $nextest | $ours | $(ratio "$ours" "$nextest") | $(ratio "$ours" "$viacargo") | $(ratio "$nextest" "$viacargo") |")
done
unset SHARDTEST_SYNTH_SPEC

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
report() {
    echo "## Overhead: N trivial tests (instant, passing), -j $JOBS"
    echo
    echo "Machine: $(nproc) CPUs, $cpu; load average (1, 5, 15 min) at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)."
    echo "Tools: $(cargo --version), $(cargo nextest --version 2>/dev/null | head -1), timer: $TIMER."
    echo "Median wall seconds of $RUNS runs (after $WARMUP warm-up), same test binary for every column."
    echo
    echo "| tests | test binary directly (libtest threads) | \`cargo test\` | \`cargo nextest run\` | \`cargo shardtest run\` | ours / nextest | ours / cargo test | nextest / cargo test |"
    echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "- *test binary directly*: \`<target>/debug/deps/synth-<hash> --test-threads $JOBS\` (one process, libtest-mimic threads)."
    echo "- *\`cargo test\`*: \`cargo test -q --manifest-path tests/fixtures/trivial-suite/Cargo.toml -- --test-threads $JOBS\` (includes cargo's up-to-date check)."
    echo "- *\`cargo nextest run\`*: \`cargo nextest run -j $JOBS --manifest-path ...\` (one process per test)."
    echo "- *\`cargo shardtest run\`*: \`target/release/cargo-shardtest shardtest run -j $JOBS --manifest-path ...\`."
}
mkdir -p "$(dirname "$BENCH_OUT")"
report | tee "$BENCH_OUT"

# ---------------------------------------------------------------------------------------------
# Balance bench (written separately; run it when it exists)
# ---------------------------------------------------------------------------------------------
echo
echo "## Balance"
echo
if [[ -n "${BENCH_SKIP_BALANCE:-}" ]]; then
    echo "Skipped (BENCH_SKIP_BALANCE is set)."
elif [[ -f "$ROOT/cargo-shardtest/benches/balance.rs" ]]; then
    log "running cargo bench -p cargo-shardtest --bench balance"
    if ! (cd "$ROOT" && CARGO_TARGET_DIR="$RUNNER_TARGET_DIR" cargo bench -p cargo-shardtest --bench balance); then
        echo "The balance bench failed (see its output above)."
    fi
else
    echo "No balance bench yet (cargo-shardtest/benches/balance.rs does not exist)."
fi
