#!/usr/bin/env bash
# The soak: N tiny tasks, each with a done-callback, submitted into one named batch and
# collected with as_completed — run headless by poolscope, and the same program (the lesson's
# Python, from `poolscope export --python`) run by CPython's ThreadPoolExecutor, side by side.
# Prints each one's wall time and peak RSS, and the ratio.
#
#   benches/soak.sh                 # N = 1,000,000 (CPython takes a minute or two here)
#   benches/soak.sh 20000           # a smoke run: a few seconds
#   SOAK_N=200000 benches/soak.sh   # N from the environment
#   POOLSCOPE=path/to/poolscope benches/soak.sh   # a given binary (default: a release build)
#
# Wall time and peak RSS are measured by GNU time (/usr/bin/time) for both programs; without
# it, by bash's `time`, and RSS is not shown. Without python3 only poolscope runs. Exits 1 if
# a program fails.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-${SOAK_N:-1000000}}
case $n in '' | *[!0-9]*) echo "soak.sh: N must be a number of tasks, not '$n'" >&2; exit 2 ;; esac
if [ -z "${POOLSCOPE:-}" ]; then
    cargo build --release --quiet
    POOLSCOPE=${CARGO_TARGET_DIR:-target}/release/poolscope
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/soak.toml" <<EOF
title   = "Soak: $n tiny tasks with callbacks, as_completed over one batch"
summary = "Every task is submitted with a done-callback into one named batch; as_completed then takes every result."
seed    = 1

[pool]
kind    = "thread"
workers = 2

[tasks.tiny]
work  = "sleep"
label = "T{i}"

[[step]]
op       = "submit"
task     = "tiny"
count    = $n
callback = true
into     = "batch"

[[step]]
op = "as_completed"
of = "batch"
EOF

# measure NAME COMMAND...: runs COMMAND (stdout discarded), sets SECONDS_<NAME> and RSS_<NAME> (MB).
measure() {
    local name=$1
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" ||
            { echo "soak.sh: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
        read -r secs kb <"$work/$name.time"
        printf -v "SECONDS_$name" '%s' "$secs"
        printf -v "RSS_$name" '%s' "$(awk -v kb="$kb" 'BEGIN { printf "%.0f", kb / 1024 }')"
    else
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>"$work/$name.err" || { echo "soak.sh: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
        end=$(date +%s.%N)
        printf -v "SECONDS_$name" '%s' "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
        printf -v "RSS_$name" '%s' "n/a"
    fi
}

echo "soak: $n tiny tasks with done-callbacks, as_completed over one named batch, 2 worker threads"
measure poolscope "$POOLSCOPE" run "$work/soak.toml" --headless
printf '  %-34s %8.2f s   peak RSS %6s MB\n' "poolscope run --headless" "$SECONDS_poolscope" "$RSS_poolscope"
if command -v python3 >/dev/null 2>&1; then
    "$POOLSCOPE" export "$work/soak.toml" --python >"$work/soak.py"
    measure cpython python3 "$work/soak.py"
    printf '  %-34s %8.2f s   peak RSS %6s MB\n' "CPython ThreadPoolExecutor(2)" "$SECONDS_cpython" "$RSS_cpython"
    awk -v p="$SECONDS_poolscope" -v c="$SECONDS_cpython" 'BEGIN { printf "  poolscope is %.1fx faster end to end\n", c / p }'
else
    echo "  CPython: no python3"
fi
