#!/usr/bin/env bash
# Verifier soundness fuzzing for as long as asked: mutates safe programs, and every mutant the verifier accepts runs
# in checked mode over random packets; any fault is a verifier bug (the failing program is printed). Two fuzzers
# run for SECONDS each: mutants of small assembly programs, and mutants of the example programs in programs/.
#
#   scripts/fuzz-verifier.sh [SECONDS] [SEED]      default 60 seconds, seed from the clock
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
seconds="${1:-60}"
seed="${2:-$(date +%s)}"
case "$seconds" in ''|*[!0-9]*) echo "fuzz-verifier.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
echo "fuzzing the verifier for ${seconds}s, seed ${seed}"
SLUICE_FUZZ_SECONDS="$seconds" SLUICE_FUZZ_SEED="$seed" \
    swift test --filter 'VerifierFuzzTests|realProgramMutantsNeverFault' 2>&1 | grep -vE '^(\[[0-9]+/[0-9]+\]|Building|Compiling)'
