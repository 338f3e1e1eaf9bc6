// icmp_echo.c — answers ICMP and ICMPv6 echo requests from XDP, without the kernel stack.
//
// An echo request (ICMP type 8 / ICMPv6 type 128, code 0) addressed to a unicast destination is turned into
// its reply in place and sent back out of the same interface with XDP_TX:
//   - Ethernet source and destination swapped (VLAN tags, if any, are kept as they are);
//   - IP source and destination swapped; TTL / hop limit reset to 64;
//   - ICMP type set to 0 (echo reply) / ICMPv6 type set to 129; identifier, sequence and payload unchanged.
// Checksums are updated incrementally (RFC 1624, HC' = ~(~HC + ~m + m')): swapping the addresses changes
// neither the IPv4 header checksum nor the ICMPv6 pseudo-header sum (one's-complement addition commutes), so
// only the TTL word (IPv4 header checksum) and the type word (ICMP/ICMPv6 checksum) need fixing.
// Everything else — including fragments, requests with IPv6 extension headers, requests to multicast or
// broadcast addresses, and anything truncated — gets XDP_PASS.
//
// Maps
//   echo_stats   ARRAY  key __u32 (0 = IPv4 replies sent, 1 = IPv6 replies sent, 2 = passed), value __u64
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_VLAN_TAGS 2
#define REPLY_TTL 64

// linux/icmp.h drags in libc headers that do not exist for the BPF target, so the echo header is spelled out.
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct icmp_echo_hdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be16 id;
    __be16 sequence;
};

struct vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

enum echo_stat {
    ECHO_IPV4_REPLIED,
    ECHO_IPV6_REPLIED,
    ECHO_PASSED,
    ECHO_STAT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, ECHO_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} echo_stats SEC(".maps");

static __always_inline int count(__u32 stat, int action)
{
    __u64 *value = bpf_map_lookup_elem(&echo_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
    return action;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

// Replaces the 16-bit word `from` by `to` in the data covered by *check (all values as stored in the packet).
static __always_inline void csum_replace2(__sum16 *check, __u16 from, __u16 to)
{
    __u32 sum = (__u16)~*check;
    sum += (__u16)~from;
    sum += to;
    *check = csum_fold(sum);
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
    __u8 tmp[ETH_ALEN];
    __builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

// The first 16-bit word of an ICMP/ICMPv6 header: type and code, as they sit in the packet.
static __always_inline __u16 type_code_word(__u8 type, __u8 code)
{
    return bpf_htons((__u16)type << 8 | code);
}

static __always_inline int reply_ipv4(struct ethhdr *eth, struct iphdr *ip, void *data_end)
{
    __u32 header_len = ip->ihl * 4;
    if (ip->version != 4 || header_len < sizeof(*ip) || (void *)ip + header_len > data_end)
        return XDP_PASS;
    if (ip->protocol != IPPROTO_ICMP || (ip->frag_off & bpf_htons(0x3fff))) // MF set or offset != 0
        return XDP_PASS;
    // 224.0.0.0/4 multicast and the limited broadcast address must not be answered from here.
    if ((ip->daddr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) || ip->daddr == bpf_htonl(0xffffffff))
        return XDP_PASS;

    struct icmp_echo_hdr *icmp = (void *)ip + header_len;
    if ((void *)(icmp + 1) > data_end)
        return XDP_PASS;
    if (icmp->type != ICMP_ECHO || icmp->code != 0)
        return XDP_PASS;

    swap_macs(eth);
    __be32 addr = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = addr;

    // TTL shares its 16-bit word with the protocol field.
    __u16 old_word = bpf_htons((__u16)ip->ttl << 8 | ip->protocol);
    ip->ttl = REPLY_TTL;
    csum_replace2(&ip->check, old_word, bpf_htons((__u16)REPLY_TTL << 8 | ip->protocol));

    icmp->type = ICMP_ECHOREPLY;
    csum_replace2(&icmp->checksum, type_code_word(ICMP_ECHO, 0), type_code_word(ICMP_ECHOREPLY, 0));
    return count(ECHO_IPV4_REPLIED, XDP_TX);
}

static __always_inline int reply_ipv6(struct ethhdr *eth, struct ipv6hdr *ip6, void *data_end)
{
    if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
        return XDP_PASS;
    if (ip6->nexthdr != IPPROTO_ICMPV6)
        return XDP_PASS;
    if (ip6->daddr.in6_u.u6_addr8[0] == 0xff) // multicast
        return XDP_PASS;

    struct icmp6hdr *icmp6 = (void *)(ip6 + 1);
    if ((void *)(icmp6 + 1) > data_end)
        return XDP_PASS;
    if (icmp6->icmp6_type != ICMPV6_ECHO_REQUEST || icmp6->icmp6_code != 0)
        return XDP_PASS;

    swap_macs(eth);
    struct in6_addr addr = ip6->saddr;
    ip6->saddr = ip6->daddr;
    ip6->daddr = addr;
    ip6->hop_limit = REPLY_TTL; // not covered by any checksum

    icmp6->icmp6_type = ICMPV6_ECHO_REPLY;
    csum_replace2(&icmp6->icmp6_cksum, type_code_word(ICMPV6_ECHO_REQUEST, 0),
                  type_code_word(ICMPV6_ECHO_REPLY, 0));
    return count(ECHO_IPV6_REPLIED, XDP_TX);
}

SEC("xdp")
int xdp_icmp_echo(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    int action = XDP_PASS;

    if ((void *)(eth + 1) > data_end)
        return count(ECHO_PASSED, XDP_PASS);
    void *pos = eth + 1;
    __u16 proto = eth->h_proto;

#pragma unroll
    for (int i = 0; i < MAX_VLAN_TAGS; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_hdr *vlan = pos;
        if ((void *)(vlan + 1) > data_end)
            return count(ECHO_PASSED, XDP_PASS);
        proto = vlan->encapsulated_proto;
        pos = vlan + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = pos;
        if ((void *)(ip + 1) <= data_end)
            action = reply_ipv4(eth, ip, data_end);
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        action = reply_ipv6(eth, pos, data_end);
    }
    if (action == XDP_PASS)
        return count(ECHO_PASSED, XDP_PASS);
    return action;
}

char _license[] SEC("license") = "GPL";
