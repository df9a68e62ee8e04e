#!/usr/bin/env bash
# Runs every suite: unit tests under ASan+UBSan (both reactor backends), the cross-thread
# unit tests under TSan, integration tests against the real binary, the JavaScript client's
# tests, and the browser tests when present. Prints each suite's own summary and one total line at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
total_pass=0 total_fail=0 total_skip=0
failed_suites=()

# Runs one suite, echoing its output, and adds up the "N passed, N failed[, N skipped]" line.
run_suite() {
    local name=$1
    shift
    echo "=== $name"
    local out rc tmp
    tmp=$(mktemp)
    "$@" 2>&1 | tee "$tmp"
    rc=${PIPESTATUS[0]}
    out=$(cat "$tmp")
    rm -f "$tmp"
    local line
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "suite $name printed no summary (exit $rc)"
        total_fail=$((total_fail + 1))
        failed_suites+=("$name")
        return
    fi
    local p f s
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + ${s:-0}))
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
        [ "$f" -eq 0 ] && total_fail=$((total_fail + 1))
        failed_suites+=("$name")
    fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite "unit (asan+ubsan)" build/asan/unit
run_suite "unit cross-thread (tsan)" env TSAN_OPTIONS=halt_on_error=1 build/tsan/unit reactor_ log_ relay_ events_
if ls tests/integration/test_*.py >/dev/null 2>&1; then
    run_suite "integration" python3 tests/integration/run.py
fi
if [ -x clients/js/test/run.sh ]; then
    run_suite "js client (node)" clients/js/test/run.sh
fi
if [ -f tests/e2e/run.sh ]; then
    run_suite "browser (chromium)" tests/e2e/run.sh
fi

echo "=== total"
if [ ${#failed_suites[@]} -gt 0 ]; then
    echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
