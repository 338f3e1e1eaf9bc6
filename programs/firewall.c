// firewall.c — a port firewall with a complete, bounds-checked header parser.
//
// Parses Ethernet, up to two VLAN tags (802.1Q and 802.1ad/QinQ), IPv4 (with options: the header length comes
// from IHL), IPv6 (with hop-by-hop, routing, destination-options, fragment and AH extension headers, walked by
// a bounded loop), then TCP, UDP, ICMP and ICMPv6. TCP and UDP packets whose destination port is a key of
// `blocked_ports` are dropped; everything else passes.
//
// Malformed or truncated headers: XDP_PASS. The firewall only drops what it positively identified as a
// blocked flow; the kernel stack validates headers anyway and drops garbage itself, with its own counters.
// Non-first IP fragments carry no L4 header, so they cannot be matched and pass too.
//
// Maps
//   blocked_ports   HASH   key __u16 destination port in HOST byte order, value __u8 (any value; presence blocks)
//   verdicts        ARRAY  key __u32 XDP action (XDP_ABORTED..XDP_REDIRECT), value struct verdict_count
//   parse_stats     ARRAY  key __u32 enum parse_stat, value __u64 packets
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT_HDRS 6

// linux/if_vlan.h is not a UAPI header, so the tag layout is spelled out here.
struct vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

// Extension headers share this prefix (RFC 8200 section 4); AH counts its length in 4-byte units.
struct ipv6_ext_hdr {
    __u8 nexthdr;
    __u8 hdrlen;
};

struct ipv6_frag {
    __u8 nexthdr;
    __u8 reserved;
    __be16 frag_off; // offset in 8-byte units in the top 13 bits, M flag in bit 0
    __be32 identification;
};

struct verdict_count {
    __u64 packets;
    __u64 bytes;
};

enum parse_stat {
    STAT_NON_IP,        // not IPv4/IPv6 (ARP, LLDP, ...)
    STAT_MALFORMED,     // truncated or invalid header
    STAT_FRAGMENT,      // non-first fragment: no L4 header to look at
    STAT_TCP,
    STAT_UDP,
    STAT_ICMP,
    STAT_ICMPV6,
    STAT_OTHER_L4,
    STAT_BLOCKED,       // dropped because of blocked_ports
    STAT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u16);
    __type(value, __u8);
} blocked_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XDP_REDIRECT + 1);
    __type(key, __u32);
    __type(value, struct verdict_count);
} verdicts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} parse_stats SEC(".maps");

static __always_inline void count_stat(__u32 stat)
{
    __u64 *value = bpf_map_lookup_elem(&parse_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
}

static __always_inline int finish(struct xdp_md *ctx, __u32 action)
{
    struct verdict_count *count = bpf_map_lookup_elem(&verdicts, &action);
    if (count) {
        __sync_fetch_and_add(&count->packets, 1);
        __sync_fetch_and_add(&count->bytes, ctx->data_end - ctx->data);
    }
    return action;
}

// Walks IPv6 extension headers starting at *pos. Returns the upper-layer protocol, leaving *pos at its
// header, or -1 if the chain is truncated, too long, or the packet is a non-first fragment.
static __always_inline int skip_ipv6_ext_hdrs(void **pos, void *data_end, __u8 nexthdr, __u32 *stat)
{
    void *cursor = *pos;

    for (int i = 0; i < MAX_IPV6_EXT_HDRS; i++) {
        struct ipv6_ext_hdr *ext = cursor;
        switch (nexthdr) {
        case IPPROTO_HOPOPTS:
        case IPPROTO_ROUTING:
        case IPPROTO_DSTOPTS:
            if ((void *)(ext + 1) > data_end)
                return -1;
            nexthdr = ext->nexthdr;
            cursor += ((__u32)ext->hdrlen + 1) * 8;
            break;
        case IPPROTO_AH:
            if ((void *)(ext + 1) > data_end)
                return -1;
            nexthdr = ext->nexthdr;
            cursor += ((__u32)ext->hdrlen + 2) * 4;
            break;
        case IPPROTO_FRAGMENT: {
            struct ipv6_frag *frag = cursor;
            if ((void *)(frag + 1) > data_end)
                return -1;
            if (frag->frag_off & bpf_htons(0xfff8)) {
                *stat = STAT_FRAGMENT;
                return -1;
            }
            nexthdr = frag->nexthdr;
            cursor = frag + 1;
            break;
        }
        default:
            *pos = cursor;
            return nexthdr;
        }
    }
    return -1; // more extension headers than we are willing to walk
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    void *pos = data;
    __u32 stat = STAT_MALFORMED;
    int l4proto;

    struct ethhdr *eth = pos;
    if ((void *)(eth + 1) > data_end)
        goto pass;
    pos = eth + 1;
    __u16 proto = eth->h_proto;

#pragma unroll
    for (int i = 0; i < MAX_VLAN_TAGS; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_hdr *vlan = pos;
        if ((void *)(vlan + 1) > data_end)
            goto pass;
        proto = vlan->encapsulated_proto;
        pos = vlan + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = pos;
        if ((void *)(ip + 1) > data_end)
            goto pass;
        __u32 header_len = ip->ihl * 4;
        if (ip->version != 4 || header_len < sizeof(*ip))
            goto pass;
        if (pos + header_len > data_end) // options truncated
            goto pass;
        if (ip->frag_off & bpf_htons(0x1fff)) { // fragment offset != 0
            stat = STAT_FRAGMENT;
            goto pass;
        }
        l4proto = ip->protocol;
        pos += header_len;
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = pos;
        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            goto pass;
        pos = ip6 + 1;
        l4proto = skip_ipv6_ext_hdrs(&pos, data_end, ip6->nexthdr, &stat);
        if (l4proto < 0)
            goto pass;
    } else {
        stat = STAT_NON_IP;
        goto pass;
    }

    __u16 port;
    switch (l4proto) {
    case IPPROTO_TCP: {
        struct tcphdr *tcp = pos;
        if ((void *)(tcp + 1) > data_end)
            goto pass;
        port = bpf_ntohs(tcp->dest);
        stat = STAT_TCP;
        break;
    }
    case IPPROTO_UDP: {
        struct udphdr *udp = pos;
        if ((void *)(udp + 1) > data_end)
            goto pass;
        port = bpf_ntohs(udp->dest);
        stat = STAT_UDP;
        break;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        // type, code and checksum must be there for the stack to make sense of it.
        if (pos + 4 > data_end)
            goto pass;
        stat = l4proto == IPPROTO_ICMP ? STAT_ICMP : STAT_ICMPV6;
        goto pass;
    default:
        stat = STAT_OTHER_L4;
        goto pass;
    }

    if (bpf_map_lookup_elem(&blocked_ports, &port)) {
        count_stat(STAT_BLOCKED);
        return finish(ctx, XDP_DROP);
    }

pass:
    count_stat(stat);
    return finish(ctx, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
