#!/usr/bin/env bash
# The shared queue against a static plan (issue 16), measured in one run:
#
#   1. balance: the mixed synthetic suite (tests/fixtures/trivial-suite/specs/mixed.json,
#      scaled) with its recorded durations scrambled (each multiplied by a factor between
#      1/3 and 3, fixed seed). For N = 2 and 4 jobs of -j 2: N static shards planned from the
#      scrambled timings, then N queue jobs seeded from them, all jobs of a mode at once.
#      Printed: the makespan (first test start to last test end over the jobs' reports) over
#      the lower bound max(longest test, total work / (N x 2)) computed from the true
#      durations; medians of BENCH_RUNS runs.
#   2. cost: 5,000 trivial tests in batch isolation, one job of -j 2: a plain run against a
#      queue job; the queue's added cost per test. Medians of BENCH_RUNS runs.
#
#   bash scripts/bench-queue.sh          # about 3-5 minutes on 2 cores
#
# Environment: BENCH_RUNS (default 3), BENCH_QUEUE_SCALE (time_scale of the mixed suite,
# default 0.1), BENCH_QUEUE_JOBS ("2 4"). Starts its own redis-server on loopback (installed
# by scripts/redis.sh when missing) and always stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${BENCH_RUNS:-3}"
SCALE="${BENCH_QUEUE_SCALE:-0.1}"
JOBS_LIST="${BENCH_QUEUE_JOBS:-2 4}"
W="$(mktemp -d "${TMPDIR:-/tmp}/shardtest-bench-queue.XXXXXX")"
REDIS_PID=""
cleanup() {
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
log() { echo "bench-queue: $*" >&2; }
unset SHARDTEST_SYNTH_SPEC SHARDTEST_TIMINGS SHARDTEST_ISOLATION SHARDTEST_JOBS SHARDTEST_QUEUE

bash scripts/redis.sh install
log "building the runner (release)"
cargo build --release -q -p cargo-shardtest
RUNNER="$ROOT/target/release/cargo-shardtest"
SUITE="$ROOT/tests/fixtures/trivial-suite"
export CARGO_TARGET_DIR="$ROOT/target/bench-fixture"
"$RUNNER" shardtest archive --manifest-path "$SUITE/Cargo.toml" -o "$W/suite.tar.zst" >&2
unset CARGO_TARGET_DIR

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PASS="bench-$$"
redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no --requirepass "$PASS" \
    --dir "$W" --daemonize no >"$W/redis.log" 2>&1 &
REDIS_PID=$!
URL="redis://:$PASS@127.0.0.1:$PORT/0"
for _ in $(seq 1 100); do
    redis-cli -p "$PORT" -a "$PASS" --no-auth-warning ping >/dev/null 2>&1 && break
    sleep 0.1
done

# Sleeping tests (busy_fraction 0): with N jobs of -j 2 on this 2-core machine, CPU-burning
# tests would make both modes CPU-bound and the comparison meaningless.
sed -e "0,/{/s//{ \"time_scale\": $SCALE,/" -e 's/"busy_fraction": [0-9.]*/"busy_fraction": 0/' \
    "$SUITE/specs/mixed.json" >"$W/mixed.json"
export SHARDTEST_SYNTH_SPEC="$W/mixed.json"
log "recording the true durations of the mixed suite (time_scale $SCALE)"
mkdir -p "$W/truth"
(cd "$W/truth" && "$RUNNER" shardtest run --archive "$W/suite.tar.zst" -j 2 --timings "$W/truth-t.json" \
    --json "$W/truth.json" >/dev/null 2>&1) || true

# The scrambled history: each true duration times a factor in [1/3, 3] (log-uniform, seed 1).
python3 - "$W/truth.json" "$W/scrambled.xml" <<'EOF'
import json, math, random, sys
from xml.sax.saxutils import quoteattr
r = json.load(open(sys.argv[1]))
rng = random.Random(1)
by_bin = {}
for t in r["tests"]:
    if not t["attempts"]:
        continue
    d = t["attempts"][-1]["duration"] * math.exp(rng.uniform(math.log(1/3), math.log(3)))
    binary, name = t["id"].split(" ", 1)
    by_bin.setdefault(binary, []).append((name, d))
with open(sys.argv[2], "w") as f:
    f.write("<testsuites>")
    for b, cases in by_bin.items():
        f.write(f'<testsuite name={quoteattr(b)} tests="{len(cases)}">')
        for n, d in cases:
            f.write(f'<testcase classname={quoteattr(b)} name={quoteattr(n)} time="{d:.6f}"/>')
        f.write("</testsuite>")
    f.write("</testsuites>")
EOF
"$RUNNER" shardtest timings import "$W/scrambled.xml" --timings "$W/scrambled.json" >&2

# makespan REPORT...: first test start to last test end.
makespan() {
    python3 - "$@" <<'EOF'
import json, sys
first, last = float("inf"), 0.0
for p in sys.argv[1:]:
    for t in json.load(open(p))["tests"]:
        for a in t["attempts"]:
            s = a["started_at"]["secs_since_epoch"] + a["started_at"]["nanos_since_epoch"] / 1e9
            first, last = min(first, s), max(last, s + a["duration"])
print(f"{last - first:.3f}")
EOF
}
bound() { # N
    python3 - "$W/truth.json" "$1" <<'EOF'
import json, sys
d = [t["attempts"][-1]["duration"] for t in json.load(open(sys.argv[1]))["tests"] if t["attempts"]]
n = int(sys.argv[2])
print(f"{max(max(d), sum(d) / (n * 2)):.3f}")
EOF
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "## Shared queue against a static plan (scrambled timings)"
echo
echo "Mixed suite (\`specs/mixed.json\`, time_scale $SCALE, sleeping tests: busy_fraction 0), recorded durations each multiplied by a factor in [1/3, 3]; every job \`-j 2\`, all jobs of a mode started at once on this 2-core machine; makespan over the lower bound from the true durations; median of $RUNS runs. Reproduce: \`bash scripts/bench-queue.sh\`."
echo
echo "| jobs | lower bound | static plan | queue | static / bound | queue / bound |"
echo "| --- | --- | --- | --- | --- | --- |"
for N in $JOBS_LIST; do
    B=$(bound "$N")
    S_ALL=""; Q_ALL=""
    for r in $(seq 1 "$RUNS"); do
        pids=""
        for k in $(seq 1 "$N"); do
            d="$W/s-$N-$r-$k"; mkdir -p "$d"
            (cd "$d" && "$RUNNER" shardtest run --archive "$W/suite.tar.zst" -j 2 --shard "$k/$N" \
                --timings "$W/scrambled.json" --no-record-timings --json report.json >/dev/null 2>&1 || true) &
            pids="$pids $!"
        done
        wait $pids
        S_ALL="$S_ALL $(makespan "$W"/s-$N-$r-*/report.json)"
        pids=""
        for k in $(seq 1 "$N"); do
            d="$W/q-$N-$r-$k"; mkdir -p "$d"
            (cd "$d" && "$RUNNER" shardtest run --archive "$W/suite.tar.zst" -j 2 --queue "$URL" \
                --queue-run "bench-$N-$r" --timings "$W/scrambled.json" --no-record-timings \
                --json report.json >/dev/null 2>&1 || true) &
            pids="$pids $!"
        done
        wait $pids
        Q_ALL="$Q_ALL $(makespan "$W"/q-$N-$r-*/report.json)"
        log "N=$N run $r: static$S_ALL | queue$Q_ALL"
    done
    S=$(echo "$S_ALL" | median); Q=$(echo "$Q_ALL" | median)
    echo "| $N | ${B}s | ${S}s | ${Q}s | $(python3 -c "print(f'{$S/$B:.2f}x')") | $(python3 -c "print(f'{$Q/$B:.2f}x')") |"
done

echo
echo "## The queue's added cost per test"
echo
export SHARDTEST_SYNTH_SPEC='{"count":5000}'
wall() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.3f}')"; }
P_ALL=""; Q_ALL=""
mkdir -p "$W/cost"; cd "$W/cost"
for r in $(seq 1 "$RUNS"); do
    P_ALL="$P_ALL $(wall "$RUNNER" shardtest run --archive "$W/suite.tar.zst" -j 2 --isolation batch --no-record-timings --timings "$W/none.json")"
    Q_ALL="$Q_ALL $(wall "$RUNNER" shardtest run --archive "$W/suite.tar.zst" -j 2 --isolation batch --no-record-timings --timings "$W/none.json" --queue "$URL" --queue-run "cost-$r")"
done
P=$(echo "$P_ALL" | median); Q=$(echo "$Q_ALL" | median)
echo "5,000 trivial tests, batch isolation, one job of \`-j 2\`, median of $RUNS runs: plain run ${P}s, queue job ${Q}s: $(python3 -c "print(f'{($Q-$P)/5000*1e6:.0f}')") microseconds per test added by the queue."
