#!/usr/bin/env bash
# Builds the web UI into OUTDIR: bundles web/src with esbuild into OUTDIR/web/app.js and
# app.css, copies index.html and favicon.svg, and generates OUTDIR/web_assets.c (the
# files embedded as a C table, see src/server/web_assets.h). `npm ci` runs only when
# web/node_modules is missing or web/package-lock.json changed since it last ran.
# Usage: web/build.sh OUTDIR
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: web/build.sh OUTDIR" >&2
    exit 2
fi
web=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$web")
mkdir -p "$1"
out=$(cd "$1" && pwd)

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    "$root/scripts/deps.sh" nodejs npm
fi
if ! command -v python3 >/dev/null 2>&1; then
    "$root/scripts/deps.sh" python3
fi

# npm ci when node_modules is missing or was installed from another lock file.
stamp="$web/node_modules/.ptyhub-lock.sha256"
want=$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$web/node_modules/.bin/esbuild" ]; then
    echo "web: npm ci" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
fi

mkdir -p "$out/web"
# One bundle, minified, no source map and no timestamps: the same inputs give the same
# bytes. esbuild writes app.css next to app.js from the CSS the entry imports.
(cd "$web" && node_modules/.bin/esbuild src/main.js --bundle --minify --format=iife \
    --target=es2020 --charset=utf8 --legal-comments=eof --log-level=warning \
    --outfile="$out/web/app.js")
cp "$web/index.html" "$web/favicon.svg" "$out/web/"

python3 "$root/scripts/embed_assets.py" --out "$out/web_assets.c" \
    "$out/web/index.html" "$out/web/app.js" "$out/web/app.css" "$out/web/favicon.svg"
