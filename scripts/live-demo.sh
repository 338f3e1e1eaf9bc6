#!/usr/bin/env bash
# Live part of the demo: the example ICMP echo responder (programs/icmp_echo.c) runs in Sluice on the host end of a
# veth pair; `ping` from inside a private network namespace is answered by the user-space program via XDP_TX.
# Needs root (CAP_NET_ADMIN, CAP_BPF) for the namespace and AF_XDP; says so and skips otherwise.
#   scripts/live-demo.sh [SLUICE_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=${1:-.build/release/sluice}
if [ "$(id -u)" -ne 0 ]; then
    echo "live demo skipped: it needs root (CAP_NET_ADMIN and CAP_BPF) to create a network namespace and AF_XDP sockets"
    exit 0
fi
name="sldemo$$"
name=${name:0:13}
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    scripts/netns.sh destroy "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
eval "$(scripts/netns.sh create "$name")"
host_if="$name-h"
host_addr=$(ip -4 -o addr show dev "$host_if" | awk '{print $4}' | cut -d/ -f1)
"$sluice" run --iface "$host_if" programs/build/icmp_echo.o --duration 15 &
pid=$!
# Wait until the socket is bound (the redirect program shows on the interface), bounded.
for _ in $(seq 1 50); do ip link show "$host_if" | grep -q "prog/xdp" && break; sleep 0.1; done
echo "pinging $host_addr from namespace $name (answered by the program in Sluice, not by the kernel):"
ip netns exec "$name" ping -c 5 -i 0.2 -W 1 "$host_addr" || true
kill -INT "$pid"
wait "$pid" || true
pid=""
