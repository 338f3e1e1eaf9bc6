#!/usr/bin/env bash
# Verifier soundness fuzzing, as long as asked: mutates safe programs, and every mutant the verifier accepts runs in
# checked mode over random packets; any fault is a verifier bug (the failing program is printed). Two fuzzers: mutants
# of small assembly programs (Tests/BPFVMTests/VerifierFuzzTests.swift) and mutants of the example programs in
# programs/ (realProgramMutantsNeverFault), which get a fixed fraction of the count (3 per 40, as in CI's 2000/150).
#
#   scripts/fuzz-verifier.sh [MUTANTS] [SEED]       default 20000 mutants (10x CI's quick run), seed from the clock
#   scripts/fuzz-verifier.sh --seconds S [SEED]     each fuzzer for S seconds instead
#   FUZZ_MUTANTS=1000000 FUZZ_RELEASE=1 scripts/fuzz-verifier.sh    the same through the environment; release build
#
# FUZZ_RELEASE=1 builds the tests optimised (-c release -Xswiftc -enable-testing, own build directory
# .build/fuzz-release): about an order of magnitude more mutants per second, for runs of a million. Exit status 0:
# no accepted mutant faulted; 1: a fuzzer found one (or a test failed); 2: bad arguments.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
whole() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -gt 0 ]; }

mutants="${FUZZ_MUTANTS:-20000}"
seconds=""
if [ "${1:-}" = "--seconds" ]; then
    seconds="${2:-}"; shift 2 || usage
    whole "$seconds" || { echo "fuzz-verifier.sh: --seconds must be a positive whole number, got '$seconds'" >&2; exit 2; }
elif [ $# -gt 0 ]; then
    case "$1" in -h|--help) usage ;; esac
    mutants="$1"; shift
fi
whole "$mutants" || { echo "fuzz-verifier.sh: MUTANTS must be a positive whole number, got '$mutants'" >&2; exit 2; }
[ "$mutants" -le 100000000 ] || { echo "fuzz-verifier.sh: MUTANTS above 100000000 is not a useful single run" >&2; exit 2; }
seed="${1:-${FUZZ_SEED:-$(date +%s)}}"
whole "$seed" || { echo "fuzz-verifier.sh: SEED must be a positive whole number, got '$seed'" >&2; exit 2; }
real=$(( mutants * 3 / 40 )); [ "$real" -ge 1 ] || real=1

build=()
if [ "${FUZZ_RELEASE:-0}" = 1 ]; then build=(-c release -Xswiftc -enable-testing --build-path .build/fuzz-release); fi
[ -x programs/build.sh ] && programs/build.sh >/dev/null

if [ -n "$seconds" ]; then
    echo "fuzzing the verifier for ${seconds}s per fuzzer, seed ${seed}"
    export SLUICE_FUZZ_SECONDS="$seconds"
else
    echo "fuzzing the verifier: ${mutants} assembly mutants and ${real} example-program mutants, seed ${seed}"
    export SLUICE_FUZZ_MUTANTS="$mutants" SLUICE_FUZZ_REAL_MUTANTS="$real"
fi
export SLUICE_FUZZ_SEED="$seed"
start=$(date +%s)
status=0
swift test "${build[@]}" --filter 'VerifierFuzzTests|realProgramMutantsNeverFault' 2>&1 \
    | grep -vE '^(\[[0-9]+/[0-9]+\]|Building|Compiling|Write|Linking)' || status=$?
echo "fuzz-verifier.sh: $(( $(date +%s) - start ))s in all (build included), exit ${status}"
exit "$status"
