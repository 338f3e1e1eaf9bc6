#!/usr/bin/env bash
# Reproduces the README's Performance section: a release build, then
#   1. sluice bench (offline) on programs/parse_bench.c over 10 000 mixed synthetic frames, against the kernel's JIT
#      and the per-packet kernel test-run path, 5 interleaved rounds;
#   2. sluice bench live, 64-byte frames, Sluice's AF_XDP engine vs the C libxdp baseline, 3 interleaved rounds:
#      first with programs/xdp_drop.c (the engine's own cost: the program does nothing), then with parse_bench.c;
#   3. sluice-malloc-bench --live: heap allocations per packet in steady state (must be 0);
#   4. sluice-vm-bench: the interpreter against a C switch interpreter, ns per eBPF instruction.
# Needs root for the kernel comparison and the live parts (they are skipped with a note otherwise).
#
#   scripts/bench.sh [--json] [--size 64|1500] [--duration S] [--rounds N]
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

json=() size=64 duration=3 rounds=3
while [ $# -gt 0 ]; do
    case "$1" in
    --json) json=(--json); shift ;;
    --size) size=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "usage: $0 [--json] [--size 64|1500] [--duration S] [--rounds N]" >&2; exit 2 ;;
    esac
done

programs/build.sh >/dev/null
swift build -c release >/dev/null
bin=.build/release

echo "# machine: $(nproc) CPUs, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
kernel=()
if [ "$(id -u)" = 0 ]; then kernel=(--against-kernel); else echo "# not root: no kernel comparison, no live bench"; fi

echo "## offline"
"$bin/sluice" bench offline programs/build/parse_bench.o --synthetic mixed --packets 10000 --repeat 5 "${kernel[@]}" "${json[@]}"

if [ "$(id -u)" = 0 ]; then
    echo "## live, trivial XDP_DROP program (the engine alone)"
    "$bin/sluice" bench live programs/build/xdp_drop.o --size "$size" --duration "$duration" --rounds "$rounds" "${json[@]}"
    echo "## live, parse_bench"
    "$bin/sluice" bench live programs/build/parse_bench.o --size "$size" --duration "$duration" --rounds "$rounds" "${json[@]}"
    echo "## allocations"
    "$bin/sluice-malloc-bench" --live
else
    echo "## allocations"
    "$bin/sluice-malloc-bench"
fi
echo "## interpreter"
"$bin/sluice-vm-bench"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
