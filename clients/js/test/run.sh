#!/usr/bin/env bash
# Tests of the JavaScript client (clients/js) with node's test runner: the codec against
# docs/protocol.md, and the client against the real daemon ($PTYHUB_BIN, else
# build/asan/ptyhub, else build/ptyhub), including the README's example. Ends with one
# line "N passed, N failed, N skipped" (todo tests count as skipped).
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 1
root=$PWD
if ! command -v node >/dev/null 2>&1; then
    "$root/scripts/deps.sh" nodejs >&2 || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
fi
if [ -z "${PTYHUB_BIN:-}" ]; then
    if [ -x build/asan/ptyhub ]; then export PTYHUB_BIN=build/asan/ptyhub; else export PTYHUB_BIN=build/ptyhub; fi
fi
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    clients/js/test/*.test.mjs
rc=$?
count() { sed -nE "s/^# $1 ([0-9]+)\$/\\1/p" "$tap" | tail -n 1; }
pass=$(count pass)
fail=$(count fail)
skip=$(count skipped)
todo=$(count todo)
cancelled=$(count cancelled)
if [ -z "$pass" ]; then
    echo "js client: the test runner wrote no results (exit $rc)" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
# A todo test that fails is counted in "fail" by the runner but does not fail the run.
todo_failed=$(grep -cE '^ *not ok .*# TODO' "$tap")
fail=$((fail + ${cancelled:-0} - todo_failed))
[ "$fail" -lt 0 ] && fail=0
skip=$((${skip:-0} + ${todo:-0}))
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
