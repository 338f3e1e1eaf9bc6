#!/usr/bin/env bash
# Installs a release build of sluice and its kernel-side redirect program:
#   PREFIX/bin/sluice and PREFIX/lib/sluice/sluice_redirect.o (PREFIX defaults to /usr/local).
# `sluice run` finds the redirect program there from any working directory.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
programs/build.sh
swift build -c release --product sluice
bin="$(swift build -c release --show-bin-path)"
install -D -m 0755 "$bin/sluice" "$prefix/bin/sluice"
install -D -m 0644 programs/build/sluice_redirect.o "$prefix/lib/sluice/sluice_redirect.o"
echo "installed $prefix/bin/sluice and $prefix/lib/sluice/sluice_redirect.o"
