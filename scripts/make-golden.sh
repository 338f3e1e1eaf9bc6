#!/usr/bin/env bash
# Regenerates the golden replay results committed beside the captures: pcaps/NAME.results.jsonl for every
# programs/NAME.c that has a capture pcaps/NAME.pcap (initial maps from pcaps/NAME.maps.json when present).
# The golden tests replay the same way and require byte-identical output; regenerate only after checking that a
# change in results is intended (e.g. `sluice replay ... --against-kernel` still reports no differences).
set -euo pipefail
cd "$(dirname "$0")/.."
programs/build.sh >/dev/null
swift build --product sluice >/dev/null
sluice=".build/debug/sluice"
for capture in pcaps/*.pcap; do
    name=$(basename "$capture" .pcap)
    object="programs/build/$name.o"
    [ -f "$object" ] || continue
    args=()
    [ -f "pcaps/$name.maps.json" ] && args+=(--maps "pcaps/$name.maps.json")
    "$sluice" replay "$object" "$capture" "${args[@]}" --bytes --results "pcaps/$name.results.jsonl" 2>/dev/null
    echo "make-golden: pcaps/$name.results.jsonl"
done
