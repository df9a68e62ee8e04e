#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and nothing else.
# Usage: scripts/deps.sh PACKAGE...   (as root: apt-get install; otherwise one line saying what to run)
set -eu
missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing+=("$pkg") ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "ptyhub: missing Debian package(s): ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "ptyhub: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# One update per machine is enough; refresh only when the lists are missing or stale.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    apt-get update -qq >&2
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
