#!/usr/bin/python3
"""Generates the test captures in pcaps/: one small capture per program in programs/.

    scripts/make-pcaps.py                 (re)write pcaps/NAME.pcap for every program
    scripts/make-pcaps.py --out DIR       write them to DIR instead
    scripts/make-pcaps.py --only NAME...  only these captures
    scripts/make-pcaps.py --bench N OUT   write an N-packet capture for the replay/interpreter benchmark to OUT
                                          (parse_bench-shaped traffic; e.g. --bench 100000 /tmp/mixed-100k.pcap)
    scripts/make-pcaps.py --held-out DIR  write captures shaped like ones from elsewhere to DIR (runts, zero-length
                                          records, jumbo frames, pcapng with comments and two interfaces, big-endian
                                          pcap and pcapng, micro- and nanosecond, raw IP, Linux cooked v1/v2) and
                                          DIR/manifest.json: {"file": {"records": N, "options": [...]}}

Needs Debian's python3 with scapy (python3-scapy). Output is deterministic: fixed MAC and IP addresses, fixed
timestamps (1 ms apart from a fixed epoch, nanosecond-precision pcap), a fixed seed for random bytes, and a pcap
writer of our own (so the file layout does not depend on the scapy version). Running it twice gives
byte-identical files.

Every capture starts with a common mix that any XDP program must survive — runts (which the kernel's
BPF_PROG_TEST_RUN refuses: shorter than an Ethernet header), truncated headers, VLAN and QinQ tags, IPv4 with
options and fragments, IPv6 with extension headers, TCP/UDP/ICMP/ICMPv6, ARP, random bytes and one frame larger
than the kernel's linear XDP test buffer — followed by traffic that exercises the program's own logic.
"""

import argparse
import hashlib
import os
import random
import struct
import sys

try:
    from scapy.all import (
        ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPOption, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
        IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, Raw, conf,
    )
    from scapy.layers.ipsec import AH
except ImportError as error:
    sys.exit(f"make-pcaps: cannot import scapy ({error}); run it with Debian's /usr/bin/python3 "
             "(package python3-scapy)")

conf.verb = 0

SEED = 0x51C3
EPOCH_NS = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z
STEP_NS = 1_000_000

CLIENT_MAC = "02:00:00:00:00:01"
SERVER_MAC = "02:00:00:00:00:02"
CLIENT4, SERVER4 = "10.0.0.1", "10.0.0.2"
CLIENT6, SERVER6 = "fd00::1", "fd00::2"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------------------- pcap writer

def write_pcap(path, frames):
    """Writes `frames` (a list of bytes) as a nanosecond-precision pcap with fixed timestamps."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        # magic (ns), version 2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            if not 0 < len(frame) <= 65535:
                raise ValueError(f"{path}: frame {i} has length {len(frame)}")
            t = EPOCH_NS + i * STEP_NS
            f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(frame), len(frame)))
            f.write(frame)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- frame builders

def eth(dst=SERVER_MAC, src=CLIENT_MAC, **kw):
    return Ether(dst=dst, src=src, **kw)


def ip4(src=CLIENT4, dst=SERVER4, **kw):
    return IP(src=src, dst=dst, id=kw.pop("id", 1), **kw)


def ip6(src=CLIENT6, dst=SERVER6, **kw):
    return IPv6(src=src, dst=dst, **kw)


def udp4(dport, sport=40000, payload=b"sluice", src=CLIENT4, dst=SERVER4):
    return eth() / ip4(src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)


def tcp4(dport, sport=40000, flags="S", src=CLIENT4, dst=SERVER4, payload=b""):
    return eth() / ip4(src, dst) / TCP(sport=sport, dport=dport, flags=flags, seq=1000, window=8192) / Raw(payload)


def udp6(dport, sport=40000, payload=b"sluice", src=CLIENT6, dst=SERVER6):
    return eth() / ip6(src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)


def tcp6(dport, sport=40000, flags="S", src=CLIENT6, dst=SERVER6):
    return eth() / ip6(src, dst) / TCP(sport=sport, dport=dport, flags=flags, seq=1000, window=8192)


def padded(pkt, size=60):
    """Ethernet minimum-size padding, as a NIC delivers short frames."""
    raw = bytes(pkt)
    return raw + b"\0" * max(0, size - len(raw))


def random_frame(rng, size):
    return bytes(rng.getrandbits(8) for _ in range(size))


def common_mix(rng):
    """Frames every program must handle without faulting; a verdict of the program's choosing."""
    f = []
    # Runts: shorter than an Ethernet header (the kernel test-run path refuses these).
    f += [b"\x02", bytes(6), bytes(eth())[:13]]
    # Bare Ethernet header, unknown EtherType, ARP, LLDP-like.
    f += [bytes(eth(type=0x88B5)), padded(eth(type=0x88B5) / Raw(b"local experimental"))]
    f += [padded(Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) / ARP(op=1, hwsrc=CLIENT_MAC, psrc=CLIENT4,
                                                                        pdst=SERVER4))]
    f += [padded(Ether(dst="01:80:c2:00:00:0e", src=CLIENT_MAC, type=0x88CC) / Raw(bytes(20)))]
    # Truncated headers.
    full4 = bytes(udp4(53))
    f += [full4[:14 + 10], full4[:14 + 20 + 4]]                                    # IPv4 cut, UDP cut
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / UDP(sport=1, dport=53))[:14 + 22]]
    f += [bytes(eth(type=0x0800) / Raw(b"\x4f" + bytes(30)))]                     # IHL 15, 31 bytes of IP
    f += [bytes(eth(type=0x0800) / Raw(b"\x43" + bytes(30)))]                     # IHL 3: invalid
    f += [bytes(eth(type=0x0800) / Raw(b"\x65" + bytes(30)))]                     # version 6 in an IPv4 frame
    full6 = bytes(udp6(53))
    f += [full6[:14 + 30], full6[:14 + 40 + 3]]                                   # IPv6 cut, UDP cut
    f += [bytes(eth() / ip6() / IPv6ExtHdrHopByHop(options=[]) / UDP(dport=53))[:14 + 40 + 4]]
    f += [bytes(eth() / ip6() / TCP(dport=80))[:14 + 40 + 10]]                   # TCP cut
    f += [bytes(eth(type=0x8100) / Raw(b"\x00"))]                                 # VLAN tag cut
    # VLAN and QinQ.
    f += [padded(eth() / Dot1Q(vlan=10) / ip4() / UDP(sport=40000, dport=53) / Raw(b"vlan"))]
    f += [padded(eth() / Dot1Q(vlan=20, prio=5) / ip6() / TCP(sport=40000, dport=443, flags="S"))]
    f += [padded(eth(type=0x88A8) / Dot1AD(vlan=100, type=0x8100) / Dot1Q(vlan=200) / ip4() /
                 UDP(sport=40000, dport=53) / Raw(b"qinq"))]
    f += [padded(eth() / Dot1Q(vlan=30) / ARP(psrc=CLIENT4, pdst=SERVER4, hwsrc=CLIENT_MAC))]
    # IPv4 with options, fragments.
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / TCP(sport=40001, dport=22, flags="S"))]
    f += [bytes(eth() / ip4(options=[IPOption(b"\x07\x07\x04" + bytes(4)), IPOption(b"\x01")]) /
                UDP(sport=40002, dport=123) / Raw(b"ntp"))]
    f += [bytes(eth() / ip4(flags="MF", frag=0) / UDP(sport=40003, dport=53) / Raw(b"first-fragment"))]
    f += [bytes(eth() / ip4(flags=0, frag=3, proto=17) / Raw(b"later-fragment-data"))]
    # IPv6 extension headers.
    f += [bytes(eth() / ip6() / IPv6ExtHdrHopByHop() / UDP(sport=40004, dport=53) / Raw(b"hbh"))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrRouting(addresses=["fd00::9"]) / IPv6ExtHdrDestOpt() /
                TCP(sport=40005, dport=22, flags="S"))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrFragment(offset=0, m=1, id=7) / UDP(sport=40006, dport=53) /
                Raw(b"frag6-first"))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrFragment(offset=5, m=0, id=7, nh=17) / Raw(b"frag6-later"))]
    f += [bytes(eth() / ip6(nh=51) / AH(nh=17, payloadlen=4, spi=0x100, seq=1, icv=bytes(12)) /
                UDP(sport=40007, dport=53) / Raw(b"ah"))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() /
                IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() /
                UDP(sport=40008, dport=53))]                                          # 7 headers: too many
    f += [bytes(eth() / ip6(nh=59) / Raw(b"no next header"))]
    # Plain L4.
    f += [padded(tcp4(80, flags="S")), padded(tcp4(80, flags="A", payload=b"GET / HTTP/1.0\r\n\r\n"))]
    f += [padded(udp4(53, payload=b"\x12\x34\x01\x00")), padded(udp4(9, payload=b"discard me"))]
    f += [padded(eth() / ip4() / ICMP(type=8, id=1, seq=1) / Raw(b"ping"))]
    f += [padded(eth() / ip4(proto=47) / Raw(b"\x00\x00\x08\x00gre"))]
    f += [bytes(tcp6(443)), bytes(udp6(53))]
    f += [bytes(eth() / ip6() / ICMPv6EchoRequest(id=1, seq=1, data=b"ping6"))]
    f += [bytes(eth() / ip6() / ICMPv6DestUnreach() / ip6(src=SERVER6, dst=CLIENT6) / UDP(dport=33434))]
    # Random bytes, and random bytes behind valid-looking headers.
    f += [random_frame(rng, n) for n in (14, 60, 97, 200)]
    f += [bytes(eth(type=0x0800)) + random_frame(rng, 40), bytes(eth(type=0x86DD)) + random_frame(rng, 60)]
    # A frame larger than the kernel's linear XDP test-run buffer (a page minus headroom and tailroom).
    f += [bytes(udp4(5001, payload=bytes(range(256)) * 15 + bytes(160)))]
    # A full-size frame.
    f += [bytes(udp4(5001, payload=bytes(1472)))]
    return f


# ----------------------------------------------------------------------------------------- per-program traffic

def firewall(rng):
    # Suggested blocked_ports: 22, 53, 161 (see pcaps/README.md); the rest must pass.
    f = []
    for port in (22, 53, 161, 80, 443, 123, 8080):
        f += [padded(tcp4(port)), padded(udp4(port)), bytes(tcp6(port)), bytes(udp6(port))]
    f += [padded(eth() / Dot1Q(vlan=5) / ip4() / TCP(sport=1234, dport=22, flags="S"))]
    f += [bytes(eth(type=0x88A8) / Dot1AD(vlan=5, type=0x8100) / Dot1Q(vlan=6) / ip6() / UDP(dport=161))]
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")] * 3) / UDP(sport=5, dport=53))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrFragment(m=0) /
                IPv6ExtHdrDestOpt() / TCP(dport=22, flags="S"))]
    f += [bytes(eth(type=0x8100) / Dot1Q(vlan=7) / Dot1Q(vlan=8) / ip4() / UDP(dport=22))]  # 3 tags: not parsed
    return f


def icmp_echo(rng):
    f = []
    for size in (0, 8, 56, 1000):
        payload = bytes((i * 7) & 0xFF for i in range(size))
        f += [padded(eth() / ip4(ttl=61) / ICMP(type=8, id=0x1234, seq=size) / Raw(payload))]
        f += [bytes(eth() / ip6(hlim=255) / ICMPv6EchoRequest(id=0x1234, seq=size, data=payload))]
    f += [padded(eth() / ip4() / ICMP(type=0, id=1, seq=1))]                         # a reply: pass
    f += [padded(eth() / ip4() / ICMP(type=3, code=3) / ip4(src=SERVER4, dst=CLIENT4) / UDP(dport=9))]
    f += [padded(eth() / ip4() / ICMP(type=8, code=1, id=1, seq=1))]                 # odd code: pass
    f += [padded(eth() / ip4(dst="224.0.0.1") / ICMP(type=8, id=1, seq=2))]          # multicast: pass
    f += [padded(eth() / ip4(dst="255.255.255.255") / ICMP(type=8, id=1, seq=3))]    # broadcast: pass
    f += [padded(eth() / ip4(flags="MF") / ICMP(type=8, id=1, seq=4) / Raw(bytes(32)))]  # fragment: pass
    f += [padded(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / ICMP(type=8, id=2, seq=5))]
    f += [padded(eth() / Dot1Q(vlan=42) / ip4() / ICMP(type=8, id=3, seq=6) / Raw(b"tagged"))]
    f += [padded(eth(type=0x88A8) / Dot1AD(vlan=1, type=0x8100) / Dot1Q(vlan=2) / ip6() /
                 ICMPv6EchoRequest(id=4, seq=7))]
    f += [bytes(eth() / ip6(dst="ff02::1") / ICMPv6EchoRequest(id=5, seq=8))]          # multicast: pass
    f += [bytes(eth() / ip6() / ICMPv6EchoReply(id=5, seq=9))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=6, seq=10))]  # ext header: pass
    f += [bytes(eth() / ip4() / ICMP(type=8, id=7, seq=11))[:14 + 20 + 6]]             # truncated ICMP
    f += [padded(eth() / ip4() / ICMP(type=8, id=8, seq=12, chksum=0xFFFF))]           # bad checksum kept bad
    return f


def counters(rng):
    f = []
    for i in range(1, 9):
        src = f"10.0.1.{i}"
        for _ in range(i % 3 + 1):
            f += [padded(udp4(1000 + i, src=src)), padded(tcp4(2000 + i, src=src))]
    for proto in (1, 47, 50, 132, 253):
        f += [padded(eth() / ip4(src="192.0.2.77", proto=proto) / Raw(b"proto"))]
    f += [bytes(eth() / ip6(nh=proto) / Raw(b"proto6" * 3)) for proto in (6, 17, 58, 0, 43, 132)]
    return f


def vlan(rng):
    f = []
    for vid in (1, 100, 4094):
        f += [padded(eth() / Dot1Q(vlan=vid, prio=vid % 8) / ip4() / UDP(dport=53) / Raw(b"tagged"))]
        f += [bytes(eth() / Dot1Q(vlan=vid) / ip6() / TCP(dport=80, flags="S"))]
    f += [padded(eth(type=0x88A8) / Dot1AD(vlan=300, type=0x8100) / Dot1Q(vlan=301) / ip4() / UDP(dport=53))]
    f += [padded(eth(type=0x88A8) / Dot1AD(vlan=302) / ip4() / UDP(dport=53))]
    f += [padded(udp4(53)), bytes(tcp6(22)), padded(eth() / ARP(psrc=CLIENT4, pdst=SERVER4, hwsrc=CLIENT_MAC))]
    f += [bytes(eth(type=0x8100) / Raw(b"\x00\x05"))]                                # tag cut after the TCI
    f += [bytes(eth(type=0x8100) / Raw(b"\x00\x05\x08\x00"))]                        # tag only, no payload
    return f


ENCAP_DST, TUNNEL_LOCAL, TUNNEL_REMOTE = "198.51.100.7", "192.0.2.1", "192.0.2.2"


def encap(rng):
    f = []
    # To be encapsulated (encap_dst), with and without Ethernet padding, DF and TOS copied.
    f += [padded(udp4(53, dst=ENCAP_DST, payload=b"q"))]
    f += [bytes(eth() / ip4(dst=ENCAP_DST, tos=0x10, flags="DF") / TCP(sport=40000, dport=80, flags="S"))]
    f += [padded(eth() / ip4(dst=ENCAP_DST) / ICMP(type=8, id=1, seq=1), 64)]
    f += [bytes(eth() / ip4(dst=ENCAP_DST, options=[IPOption(b"\x94\x04\x00\x00")]) / UDP(dport=7) /
                Raw(bytes(100)))]
    f += [bytes(udp4(5001, dst=ENCAP_DST, payload=bytes(1400)))]
    # To be decapsulated (IP-in-IP to tunnel_local), with padding, with outer options.
    inner = ip4(src="203.0.113.5", dst="10.0.0.2") / UDP(sport=5353, dport=53) / Raw(b"inner")
    f += [padded(eth() / ip4(src=TUNNEL_REMOTE, dst=TUNNEL_LOCAL, proto=4) / inner)]
    f += [bytes(eth() / ip4(src=TUNNEL_REMOTE, dst=TUNNEL_LOCAL, proto=4) / inner) + b"TRLR"]      # trailer
    f += [bytes(eth() / ip4(src=TUNNEL_REMOTE, dst=TUNNEL_LOCAL, proto=4,
                            options=[IPOption(b"\x94\x04\x00\x00")]) / inner)]
    inner_tcp = ip4(src="203.0.113.6", dst="10.0.0.2") / TCP(sport=443, dport=40000, flags="SA")
    f += [bytes(eth() / ip4(src=TUNNEL_REMOTE, dst=TUNNEL_LOCAL, proto=4) / inner_tcp)]
    # Not for us.
    f += [padded(eth() / ip4(src=TUNNEL_REMOTE, dst="192.0.2.99", proto=4) / inner)]       # other tunnel end
    f += [padded(eth() / ip4(src=TUNNEL_REMOTE, dst=TUNNEL_LOCAL, proto=4) / Raw(b"short"))]  # no inner header
    f += [bytes(eth() / ip4(dst=ENCAP_DST, len=200) / UDP(dport=53))]                          # tot_len lies
    f += [padded(eth() / Dot1Q(vlan=9) / ip4(dst=ENCAP_DST) / UDP(dport=53))]                  # tagged: pass
    f += [padded(eth() / ip4(src=ENCAP_DST, dst=SERVER4) / UDP(dport=53))]                     # from, not to
    f += [bytes(eth() / ip6() / UDP(dport=53))]
    return f


TOEPLITZ_VECTORS = os.path.join(REPO, "programs", "testdata", "toeplitz-vectors.txt")


def rss_toeplitz(rng):
    f = []
    with open(TOEPLITZ_VECTORS) as vectors:
        for line in vectors:
            fields = line.split()
            if len(fields) != 7 or fields[0] not in ("ipv4", "ipv6"):
                continue
            family, src, sport, dst, dport = fields[0], fields[1], int(fields[2]), fields[3], int(fields[4])
            if family == "ipv4":
                l3 = IP(src=src, dst=dst, id=1)
                other = ICMP(type=8, id=1, seq=1)
            else:
                l3 = IPv6(src=src, dst=dst)
                other = ICMPv6EchoRequest(id=1, seq=1)
            f += [padded(eth() / l3 / TCP(sport=sport, dport=dport, flags="S"))]
            f += [padded(eth() / l3 / UDP(sport=sport, dport=dport))]
            f += [padded(eth() / l3 / other)]
            f += [padded(eth() / Dot1Q(vlan=11) / l3 / UDP(sport=sport, dport=dport))]
    f += [padded(eth() / ip4(flags="MF") / UDP(sport=1, dport=2))]                  # fragment: 2-tuple
    f += [padded(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / TCP(sport=3, dport=4))]
    f += [bytes(eth() / ip6() / IPv6ExtHdrDestOpt() / TCP(sport=5, dport=6))]         # ext header: 2-tuple
    return f


def tail_chain(rng):
    f = []
    for port in (19, 1900, 53, 80):
        f += [padded(udp4(port)), bytes(udp6(port))]
    f += [padded(tcp4(22)), bytes(tcp6(22))]
    f += [padded(eth() / ip4() / ICMP(type=8)), bytes(eth() / ip6() / ICMPv6EchoRequest())]
    f += [padded(eth() / ip4(proto=47) / Raw(b"gre")), padded(eth() / ARP(psrc=CLIENT4, pdst=SERVER4))]
    f += [bytes(eth() / ip4(flags=0, frag=10, proto=17) / Raw(b"later-fragment-19"))]
    return f


def sensor_report(sensor_id, temp_delta, reading, scale, offset, period, timestamp):
    return struct.pack(">HbBhh", sensor_id, temp_delta, 0, reading, scale) + struct.pack("<h", offset) + \
        struct.pack(">hIQ", period, 0, timestamp)


def v4_features(rng):
    f = []
    reports = [
        (1, 5, 1000, 10, 0, 7, 1), (1, -3, -1000, 10, 0, 7, 2), (1, -128, 32767, -3, -1, -5, 3),
        (2, 127, -32768, 7, 100, 0, 4), (2, 0, -7, 2, -32768, 3, 5), (3, -1, 12345, -1, 5, -1, 6),
        (3, 1, 0, 0, 0, 0, 7),                                                          # scale 0: dropped
        (0xFFFF, -50, -1, 1, 32767, 2, 0xFFFFFFFFFFFFFFFF), (0x8000, 1, 2, 3, 4, 5, 0x0102030405060708),
    ]
    for r in reports:
        f += [bytes(udp4(7777, payload=sensor_report(*r)))]
    for _ in range(8):                                                                   # seeded random reports
        r = (rng.randrange(4), rng.randrange(-128, 128), rng.randrange(-32768, 32768), rng.randrange(-32768, 32768),
             rng.randrange(-32768, 32768), rng.randrange(-32768, 32768), rng.getrandbits(64))
        f += [bytes(udp4(7777, payload=sensor_report(*r)))]
    f += [bytes(udp4(7777, payload=sensor_report(*reports[0])[:23]))]                     # report cut short
    f += [bytes(udp4(7778, payload=sensor_report(*reports[0])))]                          # other port
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / UDP(dport=7777) /
                Raw(sensor_report(*reports[0])))]                                        # options: not parsed
    return f


def parse_bench(rng):
    f = []
    for i in range(12):
        f += [padded(udp4(9 if i % 3 == 0 else 1000 + i, sport=30000 + i, src=f"10.0.2.{i + 1}"))]
    bad = bytearray(padded(udp4(9)))
    bad[14 + 10] ^= 0xFF                                                                 # break the IP checksum
    f += [bytes(bad)]
    f += [padded(tcp4(9)), bytes(udp6(9))]
    lying = bytearray(bytes(udp4(9, payload=b"abcd")))
    struct.pack_into(">H", lying, 14 + 20 + 4, 400)                                    # UDP length says 400
    f += [bytes(lying)]
    f += [bytes(eth() / ip4(len=300) / UDP(dport=9))]                                  # IPv4 length says 300
    f += [padded(eth() / ip4(flags="MF") / UDP(dport=9))]                              # fragment
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / UDP(dport=9))]
    return f


def ringbuf_events(rng):
    return [padded(udp4(1000 + i, payload=bytes([i]) * i)) for i in range(10)] + \
        [bytes(udp6(2000 + i)) for i in range(5)] + \
        [padded(eth(type=0x88B5) / Raw(bytes([i]) * 30)) for i in range(5)]


def lpm_filter(rng):
    # Suggested blocklist (pcaps/README.md): 10.0.0.0/8 source, 10.1.2.0/24 source and destination,
    # 203.0.113.0/24 destination.
    f = []
    for src in ("10.9.9.9", "10.1.2.3", "11.0.0.1", "192.0.2.1", "172.16.0.1", "9.255.255.255", "10.255.255.255"):
        f += [padded(udp4(53, src=src, dst="192.0.2.200"))]
    for dst in ("203.0.113.1", "203.0.113.255", "203.0.114.1", "10.1.2.77", "10.1.3.77"):
        f += [padded(udp4(53, src="192.0.2.10", dst=dst))]
    f += [padded(eth() / Dot1Q(vlan=3) / ip4(src="10.2.3.4") / UDP(dport=53))]
    f += [padded(eth(type=0x88A8) / Dot1AD(vlan=3) / ip4(src="11.2.3.4", dst="203.0.113.9") / UDP(dport=53))]
    f += [bytes(udp6(53, src="::ffff:10.0.0.1"))]
    return f


def lru_flows(rng):
    f = []
    for flags in ("S", "SA", "A", "PA", "PA", "FA", "A", "R"):
        f += [padded(tcp4(443, sport=50000, flags=flags))]
    for i in range(6):
        f += [padded(udp4(53, sport=50100 + (i % 3)))] * 2
    f += [padded(eth() / ip4() / ICMP(type=8, id=9, seq=i)) for i in range(3)]
    f += [padded(eth() / ip4(proto=47) / Raw(b"gre"))]
    f += [bytes(eth() / ip4() / TCP(dport=443))[:14 + 20 + 10]]
    return f


def redirect_devmap(rng):
    return [padded(udp4(1000 + i)) for i in range(6)] + [bytes(udp6(2000 + i)) for i in range(6)] + \
        [padded(eth() / ARP(psrc=CLIENT4, pdst=SERVER4))]


def loop_sum(rng):
    f = []
    for size in (0, 1, 2, 255, 256, 1000, 1472):
        f += [padded(udp4(4000, payload=bytes((i * 13 + 1) & 0xFF for i in range(size))))]
    f += [padded(udp4(4000, payload=bytes(64)))]                                       # all zero: sum 0
    f += [padded(udp4(4000, payload=b"\xff\x01"))]                                     # sum 256
    lying = bytearray(bytes(udp4(4000, payload=b"abcd")))
    struct.pack_into(">H", lying, 14 + 20 + 4, 400)                                    # UDP length says 400
    f += [bytes(lying)]
    f += [bytes(eth() / ip4(options=[IPOption(b"\x94\x04\x00\x00")]) / UDP(dport=4000) / Raw(b"options"))]
    f += [random_frame(rng, 80) for _ in range(3)]
    return f


def globals_(rng):
    return [padded(udp4(1000 + i, payload=bytes(i * 20))) for i in range(20)]


PROGRAMS = {
    "firewall": firewall, "icmp_echo": icmp_echo, "counters": counters, "vlan": vlan, "encap": encap,
    "rss_toeplitz": rss_toeplitz, "tail_chain": tail_chain, "v4_features": v4_features,
    "parse_bench": parse_bench, "ringbuf_events": ringbuf_events, "lpm_filter": lpm_filter,
    "lru_flows": lru_flows, "redirect_devmap": redirect_devmap, "loop_sum": loop_sum, "globals": globals_,
}


def capture(name):
    # Each capture has its own seed (derived from its name), so adding one never changes another.
    rng = random.Random(SEED ^ int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big"))
    frames = common_mix(rng) + PROGRAMS[name](rng)
    if not 20 <= len(frames) <= 200:
        raise SystemExit(f"make-pcaps: {name} has {len(frames)} frames, expected 20..200")
    return frames


# ------------------------------------------------------------------------------------------------------- bench

def bench(n, out):
    """n frames shaped like parse_bench's traffic: mostly valid IPv4/UDP (10% to the discard port), some TCP,
    IPv6 and ARP. Built from templates with field patches, so 100k frames take seconds."""
    rng = random.Random(SEED)
    udp_t = bytearray(padded(udp4(1000, payload=bytes(18))))
    tcp_t = bytes(padded(tcp4(80)))
    udp6_t = bytes(udp6(53))
    arp_t = bytes(padded(Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) / ARP(psrc=CLIENT4, pdst=SERVER4)))
    frames = []
    for i in range(n):
        kind = rng.randrange(100)
        if kind < 85:
            frame = bytearray(udp_t)
            struct.pack_into(">I", frame, 14 + 12, 0x0A000000 | rng.getrandbits(16))     # source 10.0.x.y
            struct.pack_into(">HH", frame, 14 + 20, 1024 + rng.getrandbits(12), 9 if kind < 10 else 1000 + kind)
            struct.pack_into(">H", frame, 14 + 10, 0)
            struct.pack_into(">H", frame, 14 + 10, ipv4_checksum(frame[14:34]))
            struct.pack_into(">H", frame, 14 + 20 + 6, 0)                                 # UDP checksum: none
            frames.append(bytes(frame))
        elif kind < 93:
            frames.append(tcp_t)
        elif kind < 98:
            frames.append(udp6_t)
        else:
            frames.append(arp_t)
    write_pcap(out, frames)


def ipv4_checksum(header):
    total = sum(struct.unpack(f">{len(header) // 2}H", bytes(header)))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ---------------------------------------------------------------------------------------------------- held-out

def write_classic(path, records, nanosecond=True, big_endian=False, linktype=1, snaplen=262144):
    """records: (timestamp_ns, captured bytes, original length)."""
    e = ">" if big_endian else "<"
    with open(path, "wb") as f:
        f.write(struct.pack(e + "IHHiIII", 0xA1B23C4D if nanosecond else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for ts, data, wire in records:
            fraction = ts % 1_000_000_000 if nanosecond else (ts % 1_000_000_000) // 1000
            f.write(struct.pack(e + "IIII", ts // 1_000_000_000, fraction, len(data), wire) + data)


def write_pcapng(path, records, interfaces, big_endian=False):
    """records: (interface, timestamp_ns, bytes, comments); interfaces: tsresol exponents (6 = µs, 9 = ns).
    An interface statistics block and a name-resolution block sit between the packets, as tools write them."""
    e = ">" if big_endian else "<"

    def block(kind, body):
        body += bytes((4 - len(body) % 4) % 4)
        return struct.pack(e + "II", kind, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))

    def option(code, value):
        return struct.pack(e + "HH", code, len(value)) + value + bytes((4 - len(value) % 4) % 4)

    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1) + option(4, b"make-pcaps") + bytes(4))
    for resol in interfaces:
        out += block(1, struct.pack(e + "HHI", 1, 0, 262144) + option(9, bytes([resol])) + bytes(4))
    for n, (iface, ts, data, comments) in enumerate(records):
        units = ts // (10 ** (9 - interfaces[iface]))
        body = struct.pack(e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
        body += data + bytes((4 - len(data) % 4) % 4)
        if comments:
            body += b"".join(option(1, c.encode()) for c in comments) + bytes(4)
        out += block(6, body)
        if n == 3:
            out += block(5, struct.pack(e + "III", 0, 0, 0) + bytes(4))         # interface statistics
            out += block(4, struct.pack(e + "HH", 1, 8) + bytes([10, 0, 0, 2]) + b"srv\0" + bytes(4))
    with open(path, "wb") as f:
        f.write(out)


def held_out(out):
    """Captures shaped like ones users bring from elsewhere; every one must replay."""
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED ^ 0x4E1D)
    frames = common_mix(rng) + firewall(rng)
    stamp = lambda i: EPOCH_NS + i * STEP_NS + 123_457   # not a whole microsecond: tells ns from µs apart
    manifest = {}

    def classic(name, records, **kw):
        write_classic(os.path.join(out, name), records, **kw)
        manifest[name] = {"records": len(records), "options": []}

    plain = [(stamp(i), f, len(f)) for i, f in enumerate(frames)]
    classic("nanosecond.pcap", plain)
    classic("microsecond.pcap", plain, nanosecond=False)
    classic("big-endian.pcap", plain, nanosecond=False, big_endian=True)
    classic("big-endian-ns.pcap", plain, big_endian=True)
    runts = [(stamp(i), bytes(padded(udp4(53)))[:n], 60) for i, n in enumerate([1, 6, 12, 13, 14, 15, 40])]
    classic("runts.pcap", runts + plain[:10])
    zero = [(stamp(i), b"", 60 if i % 2 else 0) for i in range(3)]
    classic("zero-length.pcap", plain[:5] + zero + plain[5:20] + zero)
    jumbo = [bytes(padded(udp4(9000 + i, payload=bytes(size)), 60)) for i, size in enumerate([1500, 8972, 9000, 65000])]
    classic("jumbo.pcap", [(stamp(i), f, len(f)) for i, f in enumerate(jumbo)] + plain[:10])
    snapped = [(ts, data[:96], wire) for ts, data, wire in plain]
    classic("snaplen-96.pcap", snapped, snaplen=96)

    ng = [(i % 2, stamp(i), f, ([f"frame {i}"] if i % 3 == 0 else []) + (["second comment"] if i == 6 else []))
          for i, f in enumerate(frames)]
    for name, big in (("comments.pcapng", False), ("big-endian.pcapng", True)):
        write_pcapng(os.path.join(out, name), ng, interfaces=[6, 9], big_endian=big)
        manifest[name] = {"records": len(ng), "options": []}

    ip_packets = [bytes(f)[14:] for f in frames if len(f) > 34 and bytes(f)[12:14] in (b"\x08\x00", b"\x86\xdd")]
    classic("raw-ip.pcap", [(stamp(i), p, len(p)) for i, p in enumerate(ip_packets)], linktype=101)
    manifest["raw-ip.pcap"]["options"] = ["--synthesize-ethernet"]
    sll = [struct.pack(">HHH", 0, 1, 6) + bytes.fromhex("020000000001") + bytes(2) + bytes(f)[12:14] + bytes(f)[14:]
           for f in frames if len(f) >= 14]
    classic("linux-sll.pcap", [(stamp(i), p, len(p)) for i, p in enumerate(sll)], linktype=113)
    manifest["linux-sll.pcap"]["options"] = ["--synthesize-ethernet"]
    sll2 = [bytes(f)[12:14] + bytes(2) + struct.pack(">IHBB", 2, 1, 0, 6) + bytes.fromhex("0200000000010000")
            + bytes(f)[14:] for f in frames if len(f) >= 14]
    classic("linux-sll2.pcap", [(stamp(i), p, len(p)) for i, p in enumerate(sll2)], linktype=276)
    manifest["linux-sll2.pcap"]["options"] = ["--synthesize-ethernet"]

    import json
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    for name in sorted(manifest):
        print(f"make-pcaps: {os.path.join(out, name)}: {manifest[name]['records']} records")


# -------------------------------------------------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "pcaps"), help="output directory (default: pcaps/)")
    parser.add_argument("--only", nargs="+", choices=sorted(PROGRAMS), help="only these captures")
    parser.add_argument("--bench", nargs=2, metavar=("N", "OUT"), help="write an N-packet benchmark capture")
    parser.add_argument("--held-out", metavar="DIR", help="write captures shaped like ones from elsewhere to DIR")
    args = parser.parse_args()

    if args.held_out:
        held_out(args.held_out)
        return

    if args.bench:
        try:
            n = int(args.bench[0])
        except ValueError:
            parser.error(f"--bench: N must be a number, got '{args.bench[0]}'")
        if n <= 0:
            parser.error("--bench: N must be positive")
        bench(n, args.bench[1])
        print(f"make-pcaps: {args.bench[1]}: {n} frames")
        return
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or sorted(PROGRAMS):
        frames = capture(name)
        path = os.path.join(args.out, name + ".pcap")
        write_pcap(path, frames)
        print(f"make-pcaps: {os.path.relpath(path)}: {len(frames)} frames")


if __name__ == "__main__":
    sys.exit(main())
