#!/usr/bin/env bash
# Browser tests of the web UI: installs Debian's chromium (scripts/deps.sh) and the npm
# packages of tests/e2e (npm ci from the committed lock), starts build/ptyhub (or
# $PTYHUB_BIN) on a private socket and a free port — twice: once with its defaults (it
# makes up a token and writes it to the socket's directory, DIR/token: the tests open
# the page as /?token=TOKEN, read from there), once with a token given in $PTYHUB_TOKEN
# for the login test — runs tests/e2e/*.test.mjs with node's test runner, stops
# the daemons by pid, and ends with one line "N passed, N failed, N skipped".
# Screenshots, the daemons' logs and the TAP results go to tests/e2e/artifacts/.
# A third daemon runs with --terminal-state on (when the binary has it) for the tests of
# snapshots, query answers and screen previews: PTYHUB_E2E_TERM_URL, with its token file in
# PTYHUB_E2E_TERM_TOKEN_FILE.
# PTYHUB_E2E_ARGS adds options to `ptyhub serve` (e.g. "--io epoll").
# PTYHUB_E2E_URL=http://HOST:PORT runs the tests against a daemon already running
# (the token test is then skipped unless PTYHUB_E2E_TOKEN_URL/PTYHUB_E2E_TOKEN are set;
# PTYHUB_E2E_TOKEN_FILE names that daemon's token file, if it has one).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
e2e=$root/tests/e2e
art=$e2e/artifacts
bin=${PTYHUB_BIN:-build/ptyhub}
export CI=${CI:-}
unset PTYHUB_TOKEN

rm -rf "$art"
mkdir -p "$art"
pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ptyhub-e2e.XXXXXX")

# Stops the daemons this script started, by pid: SIGTERM, then SIGKILL after 5 s.
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "e2e: daemon $pid did not stop on SIGTERM within 5 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    pids=()
    rm -rf "$tmp"
}
trap cleanup EXIT

# Ends the run with the summary line.
finish() {
    echo "$1 passed, $2 failed, $3 skipped"
    cleanup
    [ "$2" -eq 0 ] && exit 0
    exit 1
}

# Chromium from Debian. Not being root where it is missing is a skip, not a failure.
if ! "$root/scripts/deps.sh" chromium >"$art/deps.log" 2>&1; then
    cat "$art/deps.log" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "e2e: skipped: chromium is not installed (see above)" >&2
        finish 0 0 1
    fi
    echo "e2e: could not install chromium" >&2
    finish 0 1 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    "$root/scripts/deps.sh" nodejs npm >&2 || finish 0 1 0
fi

# npm ci when node_modules is missing or was installed from another lock file.
stamp=$e2e/node_modules/.ptyhub-lock.sha256
want=$(sha256sum "$e2e/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if ! (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        echo "e2e: npm ci failed in tests/e2e" >&2
        finish 0 1 0
    fi
    echo "$want" >"$stamp"
fi

# Starts a daemon on a private socket and a free port; sets daemon_url to its base URL.
# $1: a name for its files; further arguments go to `ptyhub serve`.
start_daemon() {
    local name=$1
    shift
    # shellcheck disable=SC2206 # split on purpose: a list of options
    local extra=(${PTYHUB_E2E_ARGS:-})
    set -- "${extra[@]}" "$@"
    local dir=$tmp/$name
    mkdir -p -m 700 "$dir"
    local port=""
    local listen
    if "$bin" --help 2>&1 | grep -q -- '--ready-fd'; then
        listen=127.0.0.1:0
        "$bin" serve --socket "$dir/sock" --listen "$listen" --no-session --ready-fd 3 "$@" \
            3>"$dir/ready" </dev/null >"$art/daemon-$name.out" 2>"$art/daemon-$name.log" &
    else
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        listen=127.0.0.1:$port
        "$bin" serve --socket "$dir/sock" --listen "$listen" --no-session "$@" \
            </dev/null >"$art/daemon-$name.out" 2>"$art/daemon-$name.log" &
    fi
    local pid=$!
    pids+=("$pid")
    echo "$pid" >"$dir/pid"
    # Wait for READY (when the daemon has --ready-fd), then for /healthz; 15 s at most.
    daemon_url=""
    local url=""
    local deadline=$((SECONDS + 15))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "e2e: the daemon ($name) exited during start-up; its log:" >&2
            cat "$art/daemon-$name.log" >&2
            return 1
        fi
        if [ -z "$port" ] && [ -s "$dir/ready" ]; then
            local addr
            addr=$(awk '$1 == "READY" { print $2; exit }' "$dir/ready")
            addr=${addr#http://}
            [ -n "$addr" ] && port=${addr##*:}
        fi
        if [ -n "$port" ] && python3 - "$port" <<'EOF' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
            url=http://127.0.0.1:$port
            break
        fi
        sleep 0.05
    done
    if [ -z "$url" ]; then
        echo "e2e: the daemon ($name) did not answer /healthz within 15 s; its log:" >&2
        cat "$art/daemon-$name.log" >&2
        return 1
    fi
    daemon_url=$url
}

if [ -z "${PTYHUB_E2E_URL:-}" ]; then
    if [ ! -x "$bin" ]; then
        echo "e2e: $bin is missing: run 'make' first (or set PTYHUB_BIN)" >&2
        finish 0 1 0
    fi
    start_daemon default || finish 0 1 0
    export PTYHUB_E2E_URL=$daemon_url
    # Written before READY by a daemon that makes up its token (absent with an older one).
    export PTYHUB_E2E_TOKEN_FILE=$tmp/default/token
    token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    if "$bin" --help 2>&1 | grep -q -- '--terminal-state'; then
        if start_daemon terminal --terminal-state on; then
            export PTYHUB_E2E_TERM_URL=$daemon_url PTYHUB_E2E_TERM_TOKEN_FILE=$tmp/terminal/token
        else
            echo "e2e: the daemon with --terminal-state on did not start" >&2
        fi
    fi
    if PTYHUB_TOKEN=$token start_daemon token; then
        export PTYHUB_E2E_TOKEN_URL=$daemon_url PTYHUB_E2E_TOKEN=$token
    else
        echo "e2e: the daemon with a token did not start; the login test will fail" >&2
        export PTYHUB_E2E_TOKEN_URL=none
    fi
fi
export PTYHUB_E2E_ARTIFACTS=$art
echo "e2e: testing $PTYHUB_E2E_URL" >&2

node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$art/results.tap" \
    "$e2e"/*.test.mjs
rc=$?

count() { sed -nE "s/^# $1 ([0-9]+)\$/\\1/p" "$art/results.tap" | tail -n 1; }
pass=$(count pass)
fail=$(count fail)
skip=$(count skipped)
cancelled=$(count cancelled)
todo=$(count todo)
if [ -z "$pass" ]; then
    echo "e2e: the test runner wrote no results (exit $rc)" >&2
    finish 0 1 0
fi
fail=$((fail + ${cancelled:-0}))
skip=$((${skip:-0} + ${todo:-0}))
# Daemons that died during the tests are failures even if every test passed.
for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "e2e: daemon $pid died during the tests; see $art/daemon-*.log" >&2
        fail=$((fail + 1))
    fi
done
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1
fi
finish "$pass" "$fail" "$skip"
