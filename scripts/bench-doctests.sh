#!/usr/bin/env bash
# Doctest benchmark (issue 15): a generated crate with 100 doctests, in edition 2021 (each
# doctest compiled on its own) and edition 2024 (merged), on this machine:
#   - `cargo test --doc` against `cargo shardtest run --doc -j 2` (wall time, median of RUNS);
#   - every shard of `--shard K/4 -j 2` run one after another: the slowest shard's wall time
#     against the lower bound max(longest doctest, total work / (N x W)) of the doctest
#     durations measured in those same shard runs (and the plan's own predicted ratio).
# Not part of the test suite. Usage: bash scripts/bench-doctests.sh [RUNS]   (default 3)
# SHARDTEST_BIN=path measures that cargo-shardtest binary instead of building this checkout
# (to compare two builds under the same load); BENCH_DIR=dir works there.
# Output: a Markdown table on stdout; progress on stderr.
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${SHARDTEST_BIN:-}" ]; then
    BIN=$SHARDTEST_BIN
else
    cargo build --release -q -p cargo-shardtest --manifest-path "$ROOT/Cargo.toml"
    BIN="$ROOT/target/release/cargo-shardtest"
fi
WORK=${BENCH_DIR:-"$ROOT/target/bench/doctests"}
mkdir -p "$WORK"

# 100 doctests: 85 instant, 12 sleeping 150 ms, 3 sleeping 600 ms (a skewed suite).
gen() { # gen EDITION DIR
    local ed=$1 dir=$2
    rm -rf "$dir/src"; mkdir -p "$dir/src"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "docbench$ed"
version = "0.1.0"
edition = "$ed"
publish = false

[workspace]
TOML
    {
        echo "//! 100 generated doctests."
        for i in $(seq 1 100); do
            local ms=0
            if [ "$i" -le 3 ]; then ms=600; elif [ "$i" -le 15 ]; then ms=150; fi
            echo "/// Item $i."
            echo "///"
            echo '/// ```'
            echo "/// assert_eq!(docbench$ed::f$i(), $i);"
            [ "$ms" -gt 0 ] && echo "/// std::thread::sleep(std::time::Duration::from_millis($ms));"
            echo '/// ```'
            echo "pub fn f$i() -> u32 { $i }"
        done
    } > "$dir/src/lib.rs"
}

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
timed() { local s e; s=$(now); "$@" >/dev/null 2>&1 || true; e=$(now); echo "$e - $s" | bc -l; }

echo "| edition | cargo test --doc | shardtest run --doc -j 2 | ratio | slowest of 4 shards (-j 2) | lower bound (measured) | slowest / bound | plan: predicted slowest / its bound |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for ed in 2021 2024; do
    dir="$WORK/e$ed"; gen "$ed" "$dir"
    m="$dir/Cargo.toml"; t="$dir/timings.json"; rm -f "$t"
    echo "edition $ed: warming up" >&2
    cargo test -q --doc --manifest-path "$m" >/dev/null 2>&1
    # One recorded run is the history every timed run plans from.
    "$BIN" shardtest run --doc --manifest-path "$m" -j 2 --timings "$t" >/dev/null 2>&1
    c=(); s=()
    for r in $(seq 1 "$RUNS"); do
        echo "edition $ed: run $r/$RUNS" >&2
        c+=("$(timed cargo test -q --doc --manifest-path "$m" -- --test-threads 2)")
        s+=("$(timed "$BIN" shardtest run --doc --manifest-path "$m" -j 2 --timings "$t" --no-record-timings)")
    done
    cm=$(printf '%s\n' "${c[@]}" | median); sm=$(printf '%s\n' "${s[@]}" | median)
    plan=$("$BIN" shardtest plan --doc --manifest-path "$m" --shards 4 -j 2 --timings "$t" --format json 2>/dev/null)
    bound=$(echo "$plan" | python3 -c 'import json,sys; p=json.load(sys.stdin)["plan"]; print(p["lower_bound"])')
    pred=$(echo "$plan" | python3 -c 'import json,sys; p=json.load(sys.stdin)["plan"]; print(max(s["predicted"] for s in p["shards"]))')
    # The bound of a round is computed from the doctest durations measured in that same round
    # (max(longest, total / (N x W))), so history recorded under other load does not skew it.
    slow=(); bounds=(); ratios=()
    for r in $(seq 1 "$RUNS"); do
        worst=0
        for k in 1 2 3 4; do
            w=$(timed "$BIN" shardtest run --doc --manifest-path "$m" -j 2 --shard "$k/4" --timings "$t" --no-record-timings --json "$dir/shard-$k.json")
            worst=$(echo "if ($w > $worst) $w else $worst" | bc -l)
        done
        b=$(python3 - "$dir"/shard-[1-4].json <<'PY'
import json, sys
d = [a["duration"] for f in sys.argv[1:] for t in json.load(open(f))["tests"] for a in t["attempts"]]
print(max(max(d), sum(d) / 8))
PY
)
        slow+=("$worst"); bounds+=("$b"); ratios+=("$(echo "$worst / $b" | bc -l)")
    done
    sw=$(printf '%s\n' "${slow[@]}" | median)
    mb=$(printf '%s\n' "${bounds[@]}" | median)
    mr=$(printf '%s\n' "${ratios[@]}" | median)
    printf '| %s | %.2f s | %.2f s | %.2f | %.2f s | %.2f s | %.2f | %.2f |\n' "$ed" "$cm" "$sm" \
        "$(echo "$sm / $cm" | bc -l)" "$sw" "$mb" "$mr" "$(echo "$pred / $bound" | bc -l)"
done
