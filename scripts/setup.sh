#!/usr/bin/env bash
# Installs what Sluice needs on a Debian machine that has Swift. A no-op when everything is already there.
# Used by scripts/demo.sh and scripts/test.sh; safe to run by hand.
set -euo pipefail

packages=(libxdp-dev libbpf-dev libelf-dev libpcap-dev clang llvm llvm-19-dev iproute2 xdp-tools tcpdump python3-scapy pkg-config iputils-ping lcov)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH; install Swift 6.3 first" >&2; exit 1; }
