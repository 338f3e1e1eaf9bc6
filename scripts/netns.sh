#!/usr/bin/env bash
# Create or remove a network namespace with a veth pair into it, for live Sluice runs and tests.
#
#   scripts/netns.sh create NAME [--ipv6] [--queues N] [--offload]
#                                           namespace NAME, veth NAME-h (root namespace) <-> NAME-n (inside NAME),
#                                           each end with N RX/TX queues (default 1)
#   scripts/netns.sh destroy NAME           removes both; a no-op when they are absent
#
# NAME is at most 13 characters (interface names are limited to 15). Addresses come from a /30 inside 10.213.0.0/16
# chosen from a checksum of NAME (so the same NAME always gets the same subnet): NAME-h gets .1, NAME-n gets .2 of it.
# IPv6 is disabled on both ends unless --ipv6 is given (no router/neighbour solicitations in captures and counts).
# TX checksum offload is turned off on NAME-n unless --offload is given: a veth otherwise hands frames with partial
# (not yet computed) TCP/UDP checksums to XDP and AF_XDP, and such frames are dropped by the stack when Sluice
# reinjects them through a TAP device. With it off, frames carry complete checksums, as on a real wire.
# Both commands are idempotent. `create` prints the names and addresses as KEY=VALUE lines.
set -euo pipefail

usage() { echo "usage: $0 create|destroy NAME [--ipv6] [--queues N] [--offload]" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 name=$2 ipv6=0 queues=1 offload=0
shift 2
while [ $# -gt 0 ]; do
    case "$1" in
    --ipv6) ipv6=1; shift ;;
    --offload) offload=1; shift ;;
    --queues) [[ "${2:-}" =~ ^[1-9][0-9]?$ ]] || usage; queues=$2; shift 2 ;;
    *) usage ;;
    esac
done
[[ "$name" =~ ^[A-Za-z0-9_.]{1,13}$ ]] || { echo "netns.sh: bad NAME '$name' (1-13 of [A-Za-z0-9_.])" >&2; exit 2; }
host="$name-h" peer="$name-n"

# ETHTOOL_STXCSUM through SIOCETHTOOL (ethtool(8) may not be installed); runs inside the namespace.
tx_checksum_off() {
    ip netns exec "$name" /usr/bin/python3 -c '
import array, fcntl, socket, struct, sys
buf = array.array("B", struct.pack("II", 0x17, 0))  # ETHTOOL_STXCSUM, off
ifr = struct.pack("16sP", sys.argv[1].encode(), buf.buffer_info()[0])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    fcntl.ioctl(s.fileno(), 0x8946, ifr)  # SIOCETHTOOL
' "$1"
}

subnet() {   # prints "A.B.C.D" base of the /30 for NAME
    local sum n
    sum=$(printf '%s' "$name" | cksum | cut -d' ' -f1)
    n=$((sum % 16384))
    echo "10.213.$((n / 64)).$(((n % 64) * 4))"
}

case "$cmd" in
create)
    base=$(subnet); prefix=${base%.*}; last=${base##*.}
    host_addr="$prefix.$((last + 1))" peer_addr="$prefix.$((last + 2))"
    ip netns list | grep -qw "^$name" || ip netns add "$name"
    if ! ip link show "$host" >/dev/null 2>&1; then
        ip link add "$host" numtxqueues "$queues" numrxqueues "$queues" type veth \
            peer name "$peer" numtxqueues "$queues" numrxqueues "$queues" netns "$name"
    fi
    if [ $ipv6 = 0 ]; then
        sysctl -qw "net.ipv6.conf.$host.disable_ipv6=1"
        ip netns exec "$name" sysctl -qw "net.ipv6.conf.$peer.disable_ipv6=1"
    fi
    if [ $offload = 0 ]; then
        tx_checksum_off "$peer" || echo "netns.sh: warning: could not turn off TX checksum offload on $peer" >&2
    fi
    ip addr replace "$host_addr/30" dev "$host"
    ip -n "$name" addr replace "$peer_addr/30" dev "$peer"
    ip link set "$host" up
    ip -n "$name" link set "$peer" up
    ip -n "$name" link set lo up
    echo "NETNS=$name"
    echo "HOST_IF=$host"
    echo "HOST_ADDR=$host_addr"
    echo "HOST_MAC=$(cat /sys/class/net/$host/address)"
    echo "NS_IF=$peer"
    echo "NS_ADDR=$peer_addr"
    echo "QUEUES=$(ls -d /sys/class/net/$host/queues/rx-* | wc -l)"
    echo "NS_MAC=$(ip netns exec "$name" cat /sys/class/net/$peer/address)"
    ;;
destroy)
    ip link del "$host" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
    ;;
*) usage ;;
esac
