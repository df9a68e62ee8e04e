#!/usr/bin/env bash
# Runs every benchmark in turn: the C benchmarks built from bench/*.c (build/bench/*),
# then the scripted ones (bench/*.py), which drive build/ptyhub and the peers Debian
# packages (tmux, dtach). Each prints its own ratios; run one with BENCH=name.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
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
exit $status
