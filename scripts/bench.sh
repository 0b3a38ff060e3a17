#!/usr/bin/env bash
# The benchmark suite of issue 7, one command, one run (see BENCHMARKS.md):
#
#   1. overhead: full runs of N trivial synthetic tests under the test binary directly,
#      `cargo test`, `cargo nextest run`, and `cargo shardtest run` in both isolation modes,
#      all on the same test binary at the same parallelism;
#   2. a mixed realistic suite (heavy-tailed durations, serial tests): wall time of each runner,
#      ours without and with recorded timings;
#   3. balance by really running every shard (N = 2, 4) of the mixed suite: our timing-based
#      plan against nextest's `--partition hash:` and `slice:`; slowest shard's wall time;
#   4. planning time for 100,000 tests (`cargo bench --bench planning`), listing time for a
#      workspace of 50 test binaries, peak memory of the runner at 100,000 tests;
#   5. balance by replaying recorded durations, large N (`cargo bench --bench balance`).
#
# Every timed command is first run once while the synthetic suite records each test it runs
# (`SHARDTEST_SYNTH_RECORD`), and is not timed unless it ran every test exactly once.
# Timings are medians of several runs. Progress goes to stderr, the Markdown report to stdout
# (and to BENCH_OUT).
#
#   scripts/bench.sh                 # everything, about 10-15 minutes on 2 cores
#
# Environment (all optional):
#   BENCH_SECTIONS="overhead mixed shards planning listing memory balance"   what to run
#   BENCH_SIZES="1000 5000"   overhead suite sizes     BENCH_RUNS=5       runs per median
#   BENCH_JOBS=2              -j / --test-threads      BENCH_WARMUP=1     unmeasured runs first
#   BENCH_HISTORY_RUNS=8      recorded runs in the timings history our timed runs start from
#   BENCH_MIXED_SCALE=0.25    time_scale of the mixed suite (1.0: 49 s of work)
#   BENCH_MIXED_RUNS=3        runs per median for the mixed suite (its probe run is the warm-up)
#   BENCH_SHARDS="2 4"        shard counts run for real
#   BENCH_MEMORY_TESTS=100000 suite size of the memory section
#   BENCH_MAX_LOAD            wait (up to 2 min) before a measurement while the 1-minute load
#                             average is above this (default: 3 x nproc)
#   BENCH_SKIP_RUNNER=1       do not build or run cargo-shardtest (its cells say "skipped")
#   BENCH_SKIP_BALANCE=1      same as leaving "balance" out of BENCH_SECTIONS
#   BENCH_NO_HYPERFINE=1      time with date(1) even if hyperfine is installed
#   RUNNER_TARGET_DIR         where cargo-shardtest and the benches are built
#                             (default: $CARGO_TARGET_DIR, else <repo>/target)
#   FIXTURE_TARGET_DIR        where the synthetic suite is built (default: <repo>/target/bench-fixture)
#   MANY_TARGET_DIR           where the 50-binary fixture is built (default: <repo>/target/bench-many)
#   BENCH_OUT                 also write the report here (default: <repo>/target/bench/report.md)
#   BENCH_RUNNER_ARGS         extra arguments for every `cargo shardtest run`
#   BENCH_RUNNER_BIN          use this cargo-shardtest binary instead of building one
#   SHARDTEST_DURATIONS_CSV   real recorded durations for the balance replay (default:
#                             <repo>/../shared/data/real-durations.csv; skipped when absent)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECTIONS=" ${BENCH_SECTIONS:-overhead mixed shards planning listing memory balance} "
[[ -n "${BENCH_SKIP_BALANCE:-}" ]] && SECTIONS="${SECTIONS/ balance / }"
SIZES="${BENCH_SIZES:-1000 5000}"
RUNS="${BENCH_RUNS:-5}"
WARMUP="${BENCH_WARMUP:-1}"
JOBS="${BENCH_JOBS:-2}"
HISTORY_RUNS="${BENCH_HISTORY_RUNS:-8}"
MIXED_SCALE="${BENCH_MIXED_SCALE:-0.25}"
MIXED_RUNS="${BENCH_MIXED_RUNS:-3}"
SHARD_COUNTS="${BENCH_SHARDS:-2 4}"
MEMORY_TESTS="${BENCH_MEMORY_TESTS:-100000}"
NPROC="$(nproc 2>/dev/null || echo 1)"
MAX_LOAD="${BENCH_MAX_LOAD:-$((3 * NPROC))}"
RUNNER_TARGET_DIR="${RUNNER_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}"
FIXTURE_TARGET_DIR="${FIXTURE_TARGET_DIR:-$ROOT/target/bench-fixture}"
MANY_TARGET_DIR="${MANY_TARGET_DIR:-$ROOT/target/bench-many}"
BENCH_OUT="${BENCH_OUT:-$ROOT/target/bench/report.md}"
FIXTURE_DIR="$ROOT/tests/fixtures/trivial-suite"
FIXTURE_MANIFEST="$FIXTURE_DIR/Cargo.toml"
MANY_MANIFEST="$ROOT/tests/fixtures/bench-many-binaries/Cargo.toml"
RUNNER="${BENCH_RUNNER_BIN:-$RUNNER_TARGET_DIR/release/cargo-shardtest}"
EXTRA="${BENCH_RUNNER_ARGS:-}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/shardtest-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
unset SHARDTEST_SYNTH_SPEC SHARDTEST_SYNTH_RECORD SHARDTEST_TIMINGS SHARDTEST_ISOLATION SHARDTEST_JOBS

BENCH_START="$(date -u '+%Y-%m-%d %H:%M UTC')"
T_START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
REPORT="$WORK/report.md"
: >"$REPORT"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
out() { printf '%s\n' "$@" >>"$REPORT"; }
has() { [[ "$SECTIONS" == *" $1 "* ]]; }
load1() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }

# Waits (at most 2 minutes) while the machine is clearly overloaded by something else.
LOAD_WAITS=0
wait_for_quiet() {
    local waited=0
    while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }' && ((waited < 120)); do
        ((waited == 0)) && log "load average $(load1) > $MAX_LOAD: waiting for it to drop (max 2 min)"
        sleep 10
        waited=$((waited + 10))
    done
    ((waited > 0)) && LOAD_WAITS=$((LOAD_WAITS + 1))
    return 0
}

# ---------------------------------------------------------------------------------------------
# Timing
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

# measure NAME RUNS WARMUP COMMAND [PREPARE] -> prints the median wall seconds; fails if the
# command fails. PREPARE (a simple command, no shell syntax) runs untimed before every run.
measure() {
    local name="$1" runs="$2" warmup="$3" cmd="$4" prep="${5:-}"
    wait_for_quiet
    if [[ "$TIMER" == hyperfine* ]]; then
        local json="$WORK/$name.json" p=()
        [[ -n "$prep" ]] && p=(--prepare "$prep")
        hyperfine "${HYPERFINE_SHELL[@]}" --style none --runs "$runs" --warmup "$warmup" \
            "${p[@]}" --export-json "$json" "$cmd" >&2 || return 1
        # Recompute the median from "times": version-proof.
        tr -d '\n ' <"$json" | grep -o '"times":\[[^]]*\]' | head -1 |
            sed 's/.*\[//; s/\]//' | tr ',' '\n' | median_of
    else # includes starting bash (about 1-2 ms)
        local i t0 t1
        for ((i = 0; i < warmup; i++)); do
            [[ -n "$prep" ]] && bash -c "$prep"
            bash -c "$cmd" >/dev/null 2>&1 || return 1
        done
        for ((i = 0; i < runs; i++)); do
            [[ -n "$prep" ]] && bash -c "$prep"
            t0=$(date +%s.%N)
            bash -c "$cmd" >/dev/null 2>&1 || return 1
            t1=$(date +%s.%N)
            awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.6f\n", a - b }'
        done | median_of
    fi
}

# check_ran NAME N COMMAND -> runs COMMAND once recording every test; prints a problem ("" when
# each of the N expected tests ran exactly once). Its output is kept in $WORK/probe-NAME.log.
check_ran() {
    local name="$1" n="$2" cmd="$3" rec="$WORK/record-$1.txt"
    rm -f "$rec"
    if ! SHARDTEST_SYNTH_RECORD="$rec" timeout 1800 bash -c "$cmd" >"$WORK/probe-$name.log" 2>&1; then
        echo "run fails"
        return
    fi
    count_problem "$rec" "$n"
}

count_problem() { # count_problem RECORD-FILE N -> "" when N distinct names, each once
    local total unique
    total=$( (cat "$1" 2>/dev/null || true) | wc -l)
    unique=$( (cat "$1" 2>/dev/null || true) | sort -u | wc -l)
    if [[ "$total" -ne "$2" || "$unique" -ne "$2" ]]; then
        echo "ran $total test executions, $unique distinct, expected $2"
    fi
}

ratio() { # ratio A B -> A/B with 2 decimals, or "-" when either is not a number
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0 && a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/)
        printf "%.2fx", a / b; else printf "-" }'
}

now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }

fail_runner() { # fail_runner NAME REASON -> logs why a cell says "pending"
    log "cargo shardtest ($1) not timed: $2; last lines of its output:"
    tail -n 15 "$WORK/probe-$1.log" 2>/dev/null | sed 's/^/    /' >&2 || true
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
        log "cargo-shardtest does not build: its cells will say '$RUNNER_STATUS'"
    fi
fi
ours_ok() { [[ "$RUNNER_STATUS" == ok ]]; }

cargo nextest --version >/dev/null 2>&1 || { log "cargo-nextest is required (cargo install cargo-nextest)"; exit 1; }
export CARGO_TARGET_DIR="$FIXTURE_TARGET_DIR"
log "building the synthetic suite: $FIXTURE_MANIFEST (target dir $FIXTURE_TARGET_DIR)"
cargo test --manifest-path "$FIXTURE_MANIFEST" --no-run --message-format=json 2>/dev/null \
    >"$WORK/build.json" || { cargo test --manifest-path "$FIXTURE_MANIFEST" --no-run; exit 1; }
TEST_BIN="$(grep -o '"executable":"[^"]*"' "$WORK/build.json" | tail -1 | cut -d'"' -f4)"
[[ -x "$TEST_BIN" ]] || { log "could not find the synth test binary in cargo's output"; exit 1; }
log "test binary: $TEST_BIN"
# nextest builds through cargo too: warm its build (same binary, nothing to rebuild).
cargo nextest run --manifest-path "$FIXTURE_MANIFEST" --no-run >/dev/null 2>&1

# Commands on the synthetic suite (the spec comes from SHARDTEST_SYNTH_SPEC at run time).
q() { printf "'%s'" "$1"; }
direct_cmd="$(q "$TEST_BIN") --test-threads $JOBS"
cargo_cmd="cargo test -q --manifest-path $(q "$FIXTURE_MANIFEST") -- --test-threads $JOBS"
nextest_cmd="cargo nextest run --manifest-path $(q "$FIXTURE_MANIFEST") -j $JOBS --no-fail-fast"
# ours ISOLATION TIMINGS-FILE [ARGS...]
ours() {
    local iso="$1" tm="$2"
    shift 2
    echo "$(q "$RUNNER") shardtest run -j $JOBS --isolation $iso --timings $(q "$tm") --manifest-path $(q "$FIXTURE_MANIFEST") $* $EXTRA"
}

# Writes a synth spec: constant instant tests.
trivial_spec() { printf '{"seed": 1, "count": %d, "durations": {"kind": "constant", "seconds": 0}}\n' "$1" >"$2"; }

# ---------------------------------------------------------------------------------------------
# 1. Overhead: N trivial tests
# ---------------------------------------------------------------------------------------------
OVERHEAD_ROWS=()
HIST_BYTES=()
OVERHEAD_LOAD=""
if has overhead; then
    OVERHEAD_LOAD="start $(loadavg)"
    for n in $SIZES; do
        spec="$WORK/spec-$n.json"
        trivial_spec "$n" "$spec"
        export SHARDTEST_SYNTH_SPEC="$spec"
        listed=$("$TEST_BIN" --list --format terse | wc -l)
        [[ "$listed" -eq "$n" ]] || { log "the suite lists $listed tests, expected $n"; exit 1; }

        for pair in "direct:$direct_cmd" "cargo:$cargo_cmd" "nextest:$nextest_cmd"; do
            problem=$(check_ran "${pair%%:*}-$n" "$n" "${pair#*:}")
            if [[ -n "$problem" ]]; then
                log "${pair#*:}: $problem; its output:"
                tail -n 20 "$WORK/probe-${pair%%:*}-$n.log" >&2
                exit 1
            fi
        done
        log "$n tests: test binary directly (--test-threads $JOBS)"
        direct=$(measure "direct-$n" "$RUNS" "$WARMUP" "$direct_cmd")
        log "$n tests: cargo test -- --test-threads $JOBS"
        viacargo=$(measure "cargo-$n" "$RUNS" "$WARMUP" "$cargo_cmd")
        log "$n tests: cargo nextest run -j $JOBS"
        nextest=$(measure "nextest-$n" "$RUNS" "$WARMUP" "$nextest_cmd")

        proc="$RUNNER_STATUS" batch="$RUNNER_STATUS" bare="$RUNNER_STATUS"
        if ours_ok; then
            # The history our timed runs start from: HISTORY_RUNS recorded runs (the probe of
            # each mode, then batch runs), like a CI cache in its steady state. Every timed
            # run starts from a fresh copy of it and records into the copy.
            hist="$WORK/history-$n.json" tm="$WORK/timings-$n.json"
            rm -f "$hist"
            log "$n tests: cargo shardtest run --isolation process (probe run, records the history)"
            problem=$(check_ran "process-$n" "$n" "$(ours process "$hist")")
            [[ -n "$problem" ]] && { proc="pending ($problem)"; fail_runner "process-$n" "$problem"; }
            problem=$(check_ran "batch-$n" "$n" "$(ours batch "$hist")")
            [[ -n "$problem" ]] && { batch="pending ($problem)"; fail_runner "batch-$n" "$problem"; }
            for ((i = 2; i < HISTORY_RUNS; i++)); do
                bash -c "$(ours batch "$hist")" >/dev/null 2>&1 || true
            done
            if [[ "$proc" == ok ]]; then
                log "$n tests: cargo shardtest run --isolation process -j $JOBS"
                proc=$(measure "process-$n" "$RUNS" "$WARMUP" "$(ours process "$tm")" "cp $hist $tm") ||
                    proc="pending (failed while measuring)"
            fi
            if [[ "$batch" == ok ]]; then
                log "$n tests: cargo shardtest run --isolation batch -j $JOBS"
                batch=$(measure "batch-$n" "$RUNS" "$WARMUP" "$(ours batch "$tm")" "cp $hist $tm") ||
                    batch="pending (failed while measuring)"
                log "$n tests: cargo shardtest run --isolation batch, no history, not recording"
                bare=$(measure "bare-$n" "$RUNS" "$WARMUP" "$(ours batch "$WORK/none-$n.json" --no-record-timings)") ||
                    bare="pending (failed while measuring)"
            else
                bare="$batch"
            fi
            HIST_BYTES[$n]=$(wc -c <"$hist")
        fi
        OVERHEAD_ROWS+=("| $n | $direct | $viacargo | $nextest | $proc | $batch | $bare | **$(ratio "$proc" "$nextest")** | **$(ratio "$batch" "$viacargo")** | $(ratio "$bare" "$viacargo") | $(ratio "$nextest" "$viacargo") |")
    done
    unset SHARDTEST_SYNTH_SPEC
    OVERHEAD_LOAD="$OVERHEAD_LOAD, end $(loadavg)"
fi

# ---------------------------------------------------------------------------------------------
# 2. The mixed suite: wall time of each runner
# ---------------------------------------------------------------------------------------------
MIXED_SPEC="$WORK/mixed.json"
# The committed spec, with its durations scaled (time_scale) to keep the bench affordable.
sed "0,/{/s//{ \"time_scale\": $MIXED_SCALE,/" "$FIXTURE_DIR/specs/mixed.json" >"$MIXED_SPEC"
MIXED_HIST="$WORK/mixed-history.json"
MIXED_ROWS=()
MIXED_N=0
MIXED_INFO=""
mixed_expected() { # tests that run (listed minus ignored)
    local all ign
    all=$(SHARDTEST_SYNTH_SPEC="$MIXED_SPEC" "$TEST_BIN" --list --format terse | wc -l)
    ign=$(SHARDTEST_SYNTH_SPEC="$MIXED_SPEC" "$TEST_BIN" --list --format terse --ignored | wc -l)
    echo $((all - ign))
}
if has mixed || has shards; then
    MIXED_N=$(mixed_expected)
    MIXED_INFO=$(SHARDTEST_SYNTH_SPEC="$MIXED_SPEC" "$TEST_BIN" --print-tests |
        awk -F'"duration":' '{ split($2, a, /[,}]/); d = a[1] + 0; s += d; if (d > m) m = d }
            /"serial":true/ { ser++ } /"ignored":true/ { ign++ }
            END { printf "%d tests (%d ignored, %d serial), %.1f s of work, longest test %.2f s", NR, ign, ser, s, m }')
    log "mixed suite (time_scale $MIXED_SCALE): $MIXED_INFO"
fi
if has mixed; then
    MIXED_LOAD="start $(loadavg)"
    export SHARDTEST_SYNTH_SPEC="$MIXED_SPEC"
    for pair in "cargo:$cargo_cmd" "nextest:$nextest_cmd"; do
        problem=$(check_ran "mixed-${pair%%:*}" "$MIXED_N" "${pair#*:}")
        [[ -z "$problem" ]] || { log "${pair#*:} on the mixed suite: $problem"; tail -n 20 "$WORK/probe-mixed-${pair%%:*}.log" >&2; exit 1; }
    done
    log "mixed: cargo test"
    m_cargo=$(measure mixed-cargo "$MIXED_RUNS" 0 "$cargo_cmd")
    log "mixed: cargo nextest run"
    m_nextest=$(measure mixed-nextest "$MIXED_RUNS" 0 "$nextest_cmd")
    m_fresh="$RUNNER_STATUS" m_proc="$RUNNER_STATUS" m_batch="$RUNNER_STATUS" m_batch_even=""
    if ours_ok; then
        # The probe run of process mode with no history records the history of the others.
        rm -f "$MIXED_HIST"
        problem=$(check_ran mixed-process "$MIXED_N" "$(ours process "$MIXED_HIST")")
        if [[ -n "$problem" ]]; then
            m_fresh="pending ($problem)" m_proc="$m_fresh" m_batch="$m_fresh"
            fail_runner mixed-process "$problem"
        else
            cp "$MIXED_HIST" "$WORK/mixed-history-1run.json"
            log "mixed: cargo shardtest run --isolation process, no timings"
            m_fresh=$(measure mixed-fresh "$MIXED_RUNS" 0 "$(ours process "$WORK/none-mixed.json" --no-record-timings)") || m_fresh="pending (failed)"
            log "mixed: cargo shardtest run --isolation process, recorded timings"
            m_proc=$(measure mixed-process "$MIXED_RUNS" 0 "$(ours process "$WORK/mixed-tm.json")" "cp $WORK/mixed-history-1run.json $WORK/mixed-tm.json") || m_proc="pending (failed)"
            problem=$(check_ran mixed-batch "$MIXED_N" "$(ours batch "$WORK/mixed-tm.json")")
            if [[ -z "$problem" ]]; then
                log "mixed: cargo shardtest run --isolation batch, recorded timings"
                m_batch=$(measure mixed-batch "$MIXED_RUNS" 0 "$(ours batch "$WORK/mixed-tm.json")" "cp $WORK/mixed-history-1run.json $WORK/mixed-tm.json") || m_batch="pending (failed)"
            else
                m_batch="pending ($problem)"
                fail_runner mixed-batch "$problem"
            fi
            # The same suite with names of one width (10 modules instead of 40: same durations,
            # serial tests and ignored tests, which derive from the seed and the test index).
            # libtest-mimic pads each name to the longest of the process ("test a::b  ... ok"),
            # which a batch runner must parse; this row shows batch mode's speed when no name
            # is padded.
            sed 's/"modules": *[0-9]*/"modules": 10/' "$MIXED_SPEC" >"$WORK/mixed-even.json"
            export SHARDTEST_SYNTH_SPEC="$WORK/mixed-even.json"
            problem=$(check_ran mixed-batch-even "$MIXED_N" "$(ours batch "$WORK/mixed-even-tm.json")")
            if [[ -z "$problem" ]]; then
                cp "$WORK/mixed-even-tm.json" "$WORK/mixed-even-hist.json"
                log "mixed: cargo shardtest run --isolation batch, recorded timings, names of one width"
                m_batch_even=$(measure mixed-batch-even "$MIXED_RUNS" 0 "$(ours batch "$WORK/mixed-even-tm.json")" "cp $WORK/mixed-even-hist.json $WORK/mixed-even-tm.json") || m_batch_even="pending (failed)"
            else
                m_batch_even="pending ($problem)"
                fail_runner mixed-batch-even "$problem"
            fi
            export SHARDTEST_SYNTH_SPEC="$MIXED_SPEC"
        fi
    fi
    unset SHARDTEST_SYNTH_SPEC
    MIXED_ROWS+=("| \`cargo test\` (threads of one process) | $m_cargo | $(ratio "$m_cargo" "$m_nextest") |")
    MIXED_ROWS+=("| \`cargo nextest run\` | $m_nextest | 1.00x |")
    MIXED_ROWS+=("| \`cargo shardtest run\`, process, no timings | $m_fresh | $(ratio "$m_fresh" "$m_nextest") |")
    MIXED_ROWS+=("| \`cargo shardtest run\`, process, recorded timings | $m_proc | $(ratio "$m_proc" "$m_nextest") |")
    MIXED_ROWS+=("| \`cargo shardtest run\`, batch, recorded timings | $m_batch | $(ratio "$m_batch" "$m_nextest") |")
    MIXED_ROWS+=("| \`cargo shardtest run\`, batch, recorded timings, names of one width (\`\"modules\": 10\`) | ${m_batch_even:-$RUNNER_STATUS} | $(ratio "${m_batch_even:-}" "$m_nextest") |")
    MIXED_LOAD="$MIXED_LOAD, end $(loadavg)"
fi

# ---------------------------------------------------------------------------------------------
# 3. Balance by running every shard of the mixed suite
# ---------------------------------------------------------------------------------------------
SHARD_ROWS=()
SHARD_NOTES=()
# run_shards NAME N MAKE-COMMAND -> runs shards 1..N one after the other (as N CI jobs would,
# each on -j JOBS), recording every test; prints "slowest sum per-shard-list" or "pending (...)".
# MAKE-COMMAND K N prints the command of shard K (and may prepare its files).
run_shards() {
    local name="$1" n="$2" make="$3" rec="$WORK/record-shards-$1.txt" k t0 times=() cmd problem
    rm -f "$rec"
    for ((k = 1; k <= n; k++)); do
        cmd=$("$make" "$k" "$n")
        wait_for_quiet
        t0=$(now)
        if ! SHARDTEST_SYNTH_RECORD="$rec" bash -c "$cmd" >"$WORK/probe-$name-$k.log" 2>&1; then
            echo "pending (shard $k/$n failed)"
            tail -n 15 "$WORK/probe-$name-$k.log" | sed 's/^/    /' >&2
            return
        fi
        times+=("$(elapsed "$t0")")
    done
    problem=$(count_problem "$rec" "$MIXED_N")
    if [[ -n "$problem" ]]; then
        echo "pending (the $n shards together $problem)"
        return
    fi
    printf '%s\n' "${times[@]}" | sort -g | tail -1 | tr '\n' ' '
    printf '%s\n' "${times[@]}" | awk '{ s += $1 } END { printf "%.3f ", s }'
    printf '%s\n' "${times[@]}" | paste -sd/ -
}
shard_ours() { # every shard job starts from its own copy of the same history
    cp "$MIXED_HIST_SHARDS" "$WORK/shard-$1-of-$2.json"
    ours process "$WORK/shard-$1-of-$2.json" --shard "$1/$2"
}
shard_hash() { echo "$nextest_cmd --partition hash:$1/$2"; }
shard_slice() { echo "$nextest_cmd --partition slice:$1/$2"; }
if has shards; then
    SHARDS_LOAD="start $(loadavg)"
    export SHARDTEST_SYNTH_SPEC="$MIXED_SPEC"
    MIXED_HIST_SHARDS="$WORK/mixed-history-1run.json"
    if ours_ok && [[ ! -f "$MIXED_HIST_SHARDS" ]]; then
        log "shards: one recording run of the mixed suite"
        rm -f "$MIXED_HIST"
        problem=$(check_ran mixed-process "$MIXED_N" "$(ours process "$MIXED_HIST")")
        [[ -z "$problem" ]] && cp "$MIXED_HIST" "$MIXED_HIST_SHARDS"
        [[ -n "$problem" ]] && fail_runner mixed-process "$problem"
    fi
    for n in $SHARD_COUNTS; do
        ours_res="$RUNNER_STATUS" bound="-" predicted="-"
        if ours_ok && [[ -f "$MIXED_HIST_SHARDS" ]]; then
            log "shards: N=$n, ours (timing-based plan)"
            ours_res=$(run_shards "ours-$n" "$n" shard_ours)
            plan_json="$WORK/plan-$n.json"
            "$RUNNER" shardtest plan --shards "$n" -j "$JOBS" --timings "$MIXED_HIST_SHARDS" \
                --format json --manifest-path "$FIXTURE_MANIFEST" >"$plan_json" 2>/dev/null || true
            bound=$(grep -o '"lower_bound": *[0-9.]*' "$plan_json" | head -1 | grep -o '[0-9.]*$' | awk '{ printf "%.3f", $1 }' || echo -)
            predicted=$(grep -o '"predicted": *[0-9.]*' "$plan_json" | grep -o '[0-9.]*$' | sort -g | tail -1 | awk '{ printf "%.3f", $1 }' || echo -)
        elif ours_ok; then
            ours_res="pending (no recorded history)"
        fi
        log "shards: N=$n, nextest --partition hash:"
        hash_res=$(run_shards "hash-$n" "$n" shard_hash)
        log "shards: N=$n, nextest --partition slice:"
        slice_res=$(run_shards "slice-$n" "$n" shard_slice)
        slowest() { [[ "$1" == pending* || "$1" == skipped* ]] && echo "$1" || echo "${1%% *}"; }
        detail() { [[ "$1" == pending* || "$1" == skipped* ]] && echo "-" || echo "${1##* }"; }
        o=$(slowest "$ours_res") h=$(slowest "$hash_res") s=$(slowest "$slice_res")
        SHARD_ROWS+=("| $n | $o | $h | $s | **$(ratio "$o" "$h")** | **$(ratio "$o" "$s")** | $predicted | $bound |")
        SHARD_NOTES+=("- N=$n per-shard wall seconds: ours $(detail "$ours_res"); hash $(detail "$hash_res"); slice $(detail "$slice_res").")
    done
    unset SHARDTEST_SYNTH_SPEC
    SHARDS_LOAD="$SHARDS_LOAD, end $(loadavg)"
fi

# ---------------------------------------------------------------------------------------------
# 4a. Planning time for 100,000 tests
# ---------------------------------------------------------------------------------------------
PLANNING_OUT=""
if has planning; then
    log "planning: cargo bench -p cargo-shardtest --bench planning"
    wait_for_quiet
    PLANNING_LOAD="$(loadavg)"
    if (cd "$ROOT" && CARGO_TARGET_DIR="$RUNNER_TARGET_DIR" cargo bench -q -p cargo-shardtest --bench planning \
        >"$WORK/planning.txt" 2>"$WORK/planning.err"); then
        PLANNING_OUT="$(grep -v '^$' "$WORK/planning.txt")"
    else
        PLANNING_OUT="the planning bench failed: $(tail -n 5 "$WORK/planning.err")"
    fi
fi

# ---------------------------------------------------------------------------------------------
# 4b. Listing time for a workspace of 50 test binaries
# ---------------------------------------------------------------------------------------------
LIST_ROW=""
if has listing; then
    LISTING_LOAD="start $(loadavg)"
    log "listing: building $MANY_MANIFEST (target dir $MANY_TARGET_DIR)"
    (export CARGO_TARGET_DIR="$MANY_TARGET_DIR"
        cargo test --manifest-path "$MANY_MANIFEST" --no-run -q >&2 2>/dev/null || cargo test --manifest-path "$MANY_MANIFEST" --no-run >&2
        cargo nextest list --manifest-path "$MANY_MANIFEST" >/dev/null 2>&1)
    bins=$(find "$MANY_TARGET_DIR/debug/deps" -maxdepth 1 -type f -executable -name 't[0-9][0-9]-*' | wc -l)
    list_nextest_cmd="env CARGO_TARGET_DIR=$MANY_TARGET_DIR cargo nextest list --manifest-path $(q "$MANY_MANIFEST")"
    list_ours_cmd="env CARGO_TARGET_DIR=$MANY_TARGET_DIR $(q "$RUNNER") shardtest list --manifest-path $(q "$MANY_MANIFEST")"
    n_next=$(bash -c "$list_nextest_cmd --message-format oneline" 2>/dev/null | grep -c '::t[0-9][0-9] ' || true)
    log "listing: cargo nextest list ($n_next tests)"
    l_next=$(measure list-nextest "$RUNS" "$WARMUP" "$list_nextest_cmd") || l_next="failed"
    l_ours="$RUNNER_STATUS"
    if ours_ok; then
        n_ours=$(bash -c "$list_ours_cmd" 2>/dev/null | grep -c '::t[0-9][0-9] ' || true)
        if [[ "$n_ours" -eq 1000 ]]; then
            log "listing: cargo shardtest list ($n_ours tests)"
            l_ours=$(measure list-ours "$RUNS" "$WARMUP" "$list_ours_cmd") || l_ours="pending (failed)"
        else
            l_ours="pending (listed $n_ours tests, expected 1000)"
        fi
    fi
    [[ "$n_next" -eq 1000 ]] || l_next="$l_next (listed $n_next tests, expected 1000)"
    LIST_ROW="| $bins test binaries, 1,000 tests | $l_ours | $l_next | **$(ratio "$l_ours" "$l_next")** |"
    LISTING_LOAD="$LISTING_LOAD, end $(loadavg)"
fi

# ---------------------------------------------------------------------------------------------
# 4c. Peak memory at 100,000 tests
# ---------------------------------------------------------------------------------------------
MEM_ROWS=()
if has memory; then
    MEMORY_LOAD="start $(loadavg)"
    spec="$WORK/spec-mem.json"
    trivial_spec "$MEMORY_TESTS" "$spec"
    export SHARDTEST_SYNTH_SPEC="$spec"
    if [[ -x /usr/bin/time ]]; then
        # mem NAME LABEL EXPECTED-RUNS COMMAND: one run under /usr/bin/time -v. Its maximum
        # resident set size is that of the largest process of the tree (the runner, cargo, or
        # a test binary), hence the reference rows.
        mem() {
            local name="$1" label="$2" expect="$3" cmd="$4" tv="$WORK/time-$1.txt" rec="$WORK/record-mem-$1.txt" rss secs note=""
            rm -f "$rec"
            wait_for_quiet
            if SHARDTEST_SYNTH_RECORD="$rec" /usr/bin/time -v -o "$tv" bash -c "exec $cmd" >"$WORK/probe-mem-$name.log" 2>&1; then
                rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tv")
                secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$tv")
                if [[ "$expect" -gt 0 ]]; then
                    note=$(count_problem "$rec" "$expect")
                    [[ -n "$note" ]] && note=" (**$note**)"
                fi
                MEM_ROWS+=("| $label | $rss | $secs$note |")
            else
                MEM_ROWS+=("| $label | failed | - |")
                tail -n 10 "$WORK/probe-mem-$name.log" | sed 's/^/    /' >&2
            fi
        }
        log "memory: $MEMORY_TESTS tests"
        mem bin-list "test binary: \`<synth> --list --format terse\` (reference)" 0 "$(q "$TEST_BIN") --list --format terse"
        mem cargo-norun "\`cargo test --no-run\` (reference: the build step every runner starts with)" 0 "cargo test --no-run -q --manifest-path $(q "$FIXTURE_MANIFEST")"
        mem nextest-list "\`cargo nextest list\`" 0 "cargo nextest list --manifest-path $(q "$FIXTURE_MANIFEST")"
        if ours_ok; then
            mem ours-list "\`cargo shardtest list\`" 0 "$(q "$RUNNER") shardtest list --timings $(q "$WORK/mem-timings.json") --manifest-path $(q "$FIXTURE_MANIFEST")"
            mem ours-batch-0 "\`cargo shardtest run --isolation batch --no-record-timings\`, no history" "$MEMORY_TESTS" "$(ours batch "$WORK/mem-none.json" --no-record-timings)"
            mem ours-batch-1 "\`cargo shardtest run --isolation batch\`, no history (writes it)" "$MEMORY_TESTS" "$(ours batch "$WORK/mem-timings.json")"
            mem ours-batch-2 "\`cargo shardtest run --isolation batch\`, with 1 run of history" "$MEMORY_TESTS" "$(ours batch "$WORK/mem-timings.json")"
            MEM_HIST_MB=$(awk -v b="$(wc -c <"$WORK/mem-timings.json")" 'BEGIN { printf "%.1f", b / 1048576 }')
            mem ours-plan-0 "\`cargo shardtest plan --shards 8\`, no history" 0 "$(q "$RUNNER") shardtest plan --shards 8 -j $JOBS --timings $(q "$WORK/mem-none.json") --manifest-path $(q "$FIXTURE_MANIFEST")"
            mem ours-plan "\`cargo shardtest plan --shards 8\`, 2 runs of history" 0 "$(q "$RUNNER") shardtest plan --shards 8 -j $JOBS --timings $(q "$WORK/mem-timings.json") --manifest-path $(q "$FIXTURE_MANIFEST")"
        else
            MEM_ROWS+=("| \`cargo shardtest\` | $RUNNER_STATUS | - |")
        fi
    else
        MEM_ROWS+=("| (no /usr/bin/time: GNU time is needed for this section) | - | - |")
    fi
    unset SHARDTEST_SYNTH_SPEC
    MEMORY_LOAD="$MEMORY_LOAD, end $(loadavg)"
fi

# ---------------------------------------------------------------------------------------------
# 5. Balance by replay (large N)
# ---------------------------------------------------------------------------------------------
BALANCE_OUT=""
if has balance; then
    log "balance: cargo bench -p cargo-shardtest --bench balance"
    if [[ -f "$ROOT/cargo-shardtest/benches/balance.rs" ]]; then
        if (cd "$ROOT" && CARGO_TARGET_DIR="$RUNNER_TARGET_DIR" cargo bench -q -p cargo-shardtest --bench balance \
            >"$WORK/balance.txt" 2>"$WORK/balance.err"); then
            BALANCE_OUT="$(cat "$WORK/balance.txt")"
        else
            BALANCE_OUT="the balance bench failed: $(tail -n 5 "$WORK/balance.err")"
        fi
    else
        BALANCE_OUT="(no balance bench: cargo-shardtest/benches/balance.rs does not exist)"
    fi
fi

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
mem_total="$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo unknown)"
out "# shardtest benchmark report" ""
out "Run $BENCH_START with \`scripts/bench.sh\` ($(( $(date +%s) - T_START )) s)."
out "Machine: $NPROC CPUs (\`nproc\`), $cpu, $mem_total; $(uname -sr)."
out "Tools: $(rustc --version 2>/dev/null), $(cargo nextest --version 2>/dev/null | head -1), timer: $TIMER."
out "Load average (1, 5, 15 min): at the start $LOAD_START, at the end $(loadavg); waits for an overloaded machine (load > $MAX_LOAD): $LOAD_WAITS."
out "Runner: \`$RUNNER\`; every \`cargo shardtest run\` has \`-j $JOBS --timings FILE\`${EXTRA:+ and \`$EXTRA\`}."
out ""
if has overhead; then
    out "## 1. Overhead: N trivial tests (instant, passing), -j $JOBS" ""
    out "Median wall seconds of $RUNS runs after $WARMUP warm-up; same test binary for every column; every command first ran each test exactly once. Load: $OVERHEAD_LOAD."
    out "Our timed runs start from a copy of a timings history of $HISTORY_RUNS recorded runs (a CI cache in its steady state; $(for n in $SIZES; do printf '%s tests: %s KB' "$n" "$(( ${HIST_BYTES[$n]:-0} / 1024 ))"; [[ "$n" == "${SIZES##* }" ]] || printf '; '; done)) and record into it, as \`run\` does by default." ""
    out "| tests | test binary directly | \`cargo test\` | \`cargo nextest run\` | shardtest process | shardtest batch | shardtest batch, no history, \`--no-record-timings\` | process / nextest (target <= 0.8x) | batch / cargo test (target <= 2x) | batch bare / cargo test | nextest / cargo test |"
    out "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    out "${OVERHEAD_ROWS[@]}"
    out ""
fi
if has mixed; then
    out "## 2. Mixed suite, -j $JOBS" ""
    out "\`tests/fixtures/trivial-suite/specs/mixed.json\` with \`time_scale\` $MIXED_SCALE: $MIXED_INFO. Median wall seconds of $MIXED_RUNS runs (each command's exactly-once probe run was the warm-up). Recorded timings: a copy of the history of one recorded run, for every timed run. Load: $MIXED_LOAD." ""
    out "| runner | wall (s) | / nextest |" "| --- | ---: | ---: |"
    out "${MIXED_ROWS[@]}"
    out ""
fi
if has shards; then
    out "## 3. Balance, every shard of the mixed suite really run, -j $JOBS per shard" ""
    out "Shards run one after another (as N CI jobs on identical machines would run side by side); the table gives the slowest shard's wall seconds, one run each. Ours: \`cargo shardtest run --shard K/N\`, every shard job starting from its own copy of the same timings file (one recorded run). nextest: \`cargo nextest run --partition hash:K/N\` / \`slice:K/N\`. The N shards of each scheme together ran each test exactly once (checked). *predicted* / *bound*: our plan's slowest shard and lower bound \`max(longest, work/(N*W))\` in test time (no process or build overhead). Load: ${SHARDS_LOAD:-}." ""
    out "| N | ours slowest (s) | nextest hash: slowest (s) | nextest slice: slowest (s) | ours / hash | ours / slice | ours predicted (s) | bound (s) |"
    out "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    out "${SHARD_ROWS[@]}"
    out "" "${SHARD_NOTES[@]}"
    out ""
fi
if has planning; then
    out "## 4a. Planning time, 100,000 tests (\`cargo bench -p cargo-shardtest --bench planning\`)" ""
    out "Load: ${PLANNING_LOAD:-}." "" '```text' "$PLANNING_OUT" '```' ""
fi
if has listing; then
    out "## 4b. Listing time, a workspace of 50 test binaries (\`tests/fixtures/bench-many-binaries\`)" ""
    out "Median wall seconds of $RUNS runs after $WARMUP warm-up, after a warm build (both include cargo's up-to-date check). Load: $LISTING_LOAD." ""
    out "| workspace | \`cargo shardtest list\` | \`cargo nextest list\` | ours / nextest |" "| --- | ---: | ---: | ---: |"
    out "$LIST_ROW" ""
fi
if has memory; then
    out "## 4c. Peak memory, $MEMORY_TESTS trivial tests" ""
    out "One run each under \`/usr/bin/time -v\`: the maximum resident set size of the largest process in the tree (the runner, cargo, or the test binary; the reference rows say which is which). Timings history after the second run: ${MEM_HIST_MB:-?} MB. Load: $MEMORY_LOAD." ""
    out "| command | max RSS (MB) | wall (s) |" "| --- | ---: | ---: |"
    out "${MEM_ROWS[@]}"
    out ""
fi
if has balance; then
    out "## 5. Balance by replaying recorded durations (\`cargo bench -p cargo-shardtest --bench balance\`)" ""
    out '```text' "$BALANCE_OUT" '```'
fi
mkdir -p "$(dirname "$BENCH_OUT")"
cp "$REPORT" "$BENCH_OUT"
cat "$REPORT"
log "report written to $BENCH_OUT"
