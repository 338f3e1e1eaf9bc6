#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds the BPF programs, runs every test.
# Tests that need root or AF_XDP say why they skip when run without them; on CI (root) they run.
# As root it then runs the multiprog suite once more in a QEMU guest on Debian's stock kernel
# (scripts/kernel-vm.sh), because some kernels (this sandbox's among them) refuse libxdp's dispatcher;
# SLUICE_SKIP_VM=1 leaves that step out, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x programs/build.sh ] && programs/build.sh
swift build --build-tests
swift test --skip-build "$@"
if [ $# -gt 0 ]; then
    exit 0  # a chosen subset of the tests: no guest run
elif [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: skipped the multiprog suite in a QEMU guest: it needs root" >&2
elif [ "${SLUICE_SKIP_VM:-0}" = 1 ]; then
    echo "test.sh: skipped the multiprog suite in a QEMU guest: SLUICE_SKIP_VM=1" >&2
else
    scripts/kernel-vm.sh
fi
