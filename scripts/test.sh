#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds the BPF programs, runs every test.
# Tests that need root or AF_XDP say why they skip when run without them; on CI (root) they run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x programs/build.sh ] && programs/build.sh
swift build --build-tests
swift test --skip-build "$@"
