#!/usr/bin/env bash
# Runs every test binary N times under CPU load and counts, per test, how often it failed.
#
#   scripts/stress.sh                  # every test binary, 100 runs each
#   scripts/stress.sh -n 20            # 20 runs each
#   scripts/stress.sh -n 50 thread_shutdown coroutine_pool
#                                      # only the binaries whose name starts with these
#   scripts/stress.sh -d ...           # the binaries `cargo test` builds (as CI runs them)
#
# The test binaries are built once (cargo test --release --no-run) and run directly, each
# run with a time limit (STRESS_TIMEOUT seconds, 300 by default). The load is one busy
# process per core (stress-ng --cpu when installed, else `yes > /dev/null`), stopped on exit.
# Prints each test that failed and how often, and keeps the output of every failed run in
# target/stress/BINARY.RUN.log (a binary's old logs go when it is run again, so two stress.sh
# over different binaries can run side by side); exits 1 if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=100
profile=--release
while getopts "n:dh" opt; do
    case $opt in
        n) runs=$OPTARG ;;
        d) profile= ;;
        *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
case $runs in '' | *[!0-9]*) echo "stress.sh: -n takes a number of runs" >&2; exit 2 ;; esac
limit=${STRESS_TIMEOUT:-300}

echo "building the test binaries (${profile:-test profile})..." >&2
build_log=$(mktemp)
scratch=$(mktemp -d)
load_pids=()
cleanup() {
    for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$scratch" "$build_log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo test $profile --no-run --message-format=json-render-diagnostics >"$build_log"
# One artifact a line; test harness binaries have "test":true in their profile.
binaries=()
while IFS= read -r exe; do
    name=$(basename "$exe")
    name=${name%-*}
    if [ $# -gt 0 ]; then
        keep=no
        for wanted in "$@"; do
            case $name in "$wanted"*) keep=yes ;; esac
        done
        [ $keep = yes ] || continue
    fi
    binaries+=("$exe")
done < <(grep '"reason":"compiler-artifact"' "$build_log" | grep '"test":true' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | sort -u)
if [ ${#binaries[@]} -eq 0 ]; then
    echo "stress.sh: no test binary matches: $*" >&2
    exit 2
fi

cores=$(nproc)
if command -v stress-ng >/dev/null 2>&1; then
    stress-ng --cpu "$cores" --quiet &
    load_pids+=($!)
    load="stress-ng --cpu $cores"
else
    for _ in $(seq "$cores"); do
        yes >/dev/null &
        load_pids+=($!)
    done
    load="$cores × yes"
fi
echo "load: $load; ${#binaries[@]} test binaries × $runs runs" >&2

failures=$scratch/failures
: >"$failures"
logs=${CARGO_TARGET_DIR:-target}/stress
mkdir -p "$logs"
for exe in "${binaries[@]}"; do
    name=$(basename "$exe")
    name=${name%-*}
    # Logs are named by the binary's file (the library's and the program's unit tests are
    # both `poolscope`); only this binary's old ones go: another stress.sh may be running.
    log=$(basename "$exe")
    rm -f "$logs/$log".[0-9]*.log
    failed_runs=0
    for run in $(seq "$runs"); do
        out=$scratch/out
        status=0
        timeout "$limit" "$exe" >"$out" 2>&1 || status=$?
        if [ $status -ne 0 ]; then
            failed_runs=$((failed_runs + 1))
            failed=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$out")
            if [ -n "$failed" ]; then
                printf '%s\n' "$failed" | sed "s|^|$name::|" >>"$failures"
            elif [ $status -eq 124 ]; then
                echo "$name (timed out after ${limit}s)" >>"$failures"
            else
                echo "$name (exit status $status, no test named)" >>"$failures"
            fi
            cp "$out" "$logs/$log.$run.log"
        fi
    done
    echo "$name: $failed_runs of $runs runs failed" >&2
done

echo
if [ -s "$failures" ]; then
    echo "flaky tests (failures in $runs runs each, under $load):"
    sort "$failures" | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; printf "  %4d  %s\n", n, substr($0, 2) }'
    echo "the output of each failed run: $logs/"
    exit 1
fi
echo "no failures: ${#binaries[@]} test binaries × $runs runs each, under $load"
