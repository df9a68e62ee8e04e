#!/usr/bin/env bash
# Runs every benchmark in turn: the C benchmarks built from bench/*.c (build/bench/*),
# then the scripted ones (bench/*.py, and bench/*.mjs with node), which drive build/ptyhub and the peers Debian
# packages (tmux, dtach). Each prints its own ratios; run one with BENCH=name.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
# node and npm (the browser and JS client benchmarks), from Debian only when missing, as
# tests/e2e/run.sh does: a nodejs from elsewhere already carries npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    scripts/deps.sh nodejs npm || status=1
fi
for b in build/bench/*; do
    [ -x "$b" ] || continue
    name=$(basename "$b")
    [ -n "${BENCH:-}" ] && [ "$name" != "$BENCH" ] && continue
    echo "=== $name"
    "$b" || status=1
done
for p in bench/*.py; do
    [ -f "$p" ] || continue
    name=$(basename "$p" .py)
    [ -n "${BENCH:-}" ] && [ "$name" != "$BENCH" ] && continue
    case "$name" in _*) continue ;; esac
    echo "=== $name"
    python3 "$p" || status=1
done
# The JavaScript client's throughput against tp_client (node, from Debian's nodejs).
for p in bench/*.mjs; do
    [ -f "$p" ] || continue
    name=$(basename "$p" .mjs)
    [ -n "${BENCH:-}" ] && [ "$name" != "$BENCH" ] && continue
    case "$name" in _*) continue ;; esac
    echo "=== $name"
    if ! command -v node >/dev/null 2>&1; then
        scripts/deps.sh nodejs || { status=1; continue; }
    fi
    node "$p" || status=1
done
exit $status
