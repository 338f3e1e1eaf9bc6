#!/usr/bin/env bash
# Sluice's main job on built-in defaults: installs what it needs, builds, then
#   1. assembles and runs a bundled sample program (programs/asm/ethertype.s),
#   2. replays the example firewall over its capture, deterministically, and compares with the kernel when root,
#   3. runs the firewall live on a veth pair in a private network namespace (when root and AF_XDP are available).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
programs/build.sh >/dev/null
swift build -c release --product sluice 2>&1 | tail -1
sluice=".build/release/sluice"
out=$(mktemp -d /tmp/sluice-demo-XXXXXX)

echo
echo "== 1. assemble and run a sample program"
"$sluice" exec programs/asm/ethertype.s --mem "ffffffffffff 020000000001 0806 0001" --list

echo
echo "== 2. replay programs/build/firewall.o over pcaps/firewall.pcap (blocking ports 22, 53, 161)"
kernel=()
[ "$(id -u)" -eq 0 ] && kernel=(--against-kernel)
"$sluice" replay programs/build/firewall.o pcaps/firewall.pcap --maps pcaps/firewall.maps.json \
    --out "$out" --results "$out/results.jsonl" "${kernel[@]}"
echo "per-verdict captures and results in $out:"
ls -l "$out"
echo "first result lines:"
head -n 5 "$out/results.jsonl"

if [ -x scripts/live-demo.sh ]; then
    echo
    echo "== 3. live on a veth pair"
    scripts/live-demo.sh "$sluice"
fi
