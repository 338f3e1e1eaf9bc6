// encap.c — IP-in-IP (RFC 2003) encapsulation and decapsulation with bpf_xdp_adjust_head, and frame trailers
// with bpf_xdp_adjust_tail.
//
//   encap  An untagged IPv4 packet (not itself IP-in-IP) whose destination is encap_dst gets a new outer IPv4
//          header (tunnel_local -> tunnel_remote, protocol 4, TTL tunnel_ttl, TOS and DF copied from the inner
//          header, fresh header checksum). The Ethernet addresses are swapped so the frame goes back where it
//          came from (towards the router), and it is sent with XDP_TX.
//   decap  An IPv4 packet with protocol 4 (IP-in-IP) addressed to tunnel_local loses its outer header (with
//          options, if any) and continues to the stack: XDP_PASS.
//   trim   (trailer_flags & TRAILER_TRIM) Before encapsulating and after decapsulating, bytes after the end of
//          the IPv4 packet (Ethernet padding, trailers) are cut off with a negative bpf_xdp_adjust_tail.
//   append (trailer_flags & TRAILER_APPEND) An encapsulated frame grows by 4 bytes at the end: trailer_value
//          in network byte order (positive bpf_xdp_adjust_tail). Receivers ignore bytes after the IP packet.
// Anything else (non-IPv4, VLAN-tagged, truncated, malformed) passes untouched. If an adjust helper fails
// half-way through a rewrite the frame is no longer consistent, so it is aborted (XDP_ABORTED, counted).
//
// Configuration (.rodata, host byte order; set before load). Defaults use documentation addresses:
//   encap_dst      0xc6336407  198.51.100.7  inner destination to encapsulate (0 disables encapsulation)
//   tunnel_local   0xc0000201  192.0.2.1     our tunnel end: outer source, and decap destination
//   tunnel_remote  0xc0000202  192.0.2.2     the other tunnel end: outer destination
//   tunnel_ttl     64
//   trailer_flags  TRAILER_TRIM | TRAILER_APPEND (3)
//   trailer_value  0x534c4345 ("SLCE")
//
// Maps
//   encap_stats  ARRAY  key __u32 enum encap_stat, value __u64 packets
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TRAILER_TRIM 1
#define TRAILER_APPEND 2
#define IPV4_DF 0x4000

volatile const __u32 encap_dst = 0xc6336407;
volatile const __u32 tunnel_local = 0xc0000201;
volatile const __u32 tunnel_remote = 0xc0000202;
volatile const __u8 tunnel_ttl = 64;
volatile const __u8 trailer_flags = TRAILER_TRIM | TRAILER_APPEND;
volatile const __u32 trailer_value = 0x534c4345;

enum encap_stat {
    ENCAP_PASSED,
    ENCAP_ENCAPSULATED,
    ENCAP_DECAPSULATED,
    ENCAP_TRIMMED,
    ENCAP_TRAILER_ADDED,
    ENCAP_ERRORS,       // an adjust helper refused, or the frame was too short after adjusting
    ENCAP_STAT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, ENCAP_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} encap_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
    __u64 *value = bpf_map_lookup_elem(&encap_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
}

static __always_inline __u16 ipv4_header_checksum(const struct iphdr *ip)
{
    const __u16 *word = (const __u16 *)ip;
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
        sum += word[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

// Cuts everything after the first 14 + ip_len bytes. Returns 0 on success (also when nothing was cut).
static __always_inline int trim_to(struct xdp_md *ctx, __u32 ip_len)
{
    __u32 frame_len = ctx->data_end - ctx->data;
    __u32 wanted = sizeof(struct ethhdr) + ip_len;
    if (frame_len <= wanted)
        return 0;
    if (bpf_xdp_adjust_tail(ctx, -(int)(frame_len - wanted)))
        return -1;
    count(ENCAP_TRIMMED);
    return 0;
}

static __always_inline int decapsulate(struct xdp_md *ctx, __u32 outer_len)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct ethhdr saved;
    if ((void *)(eth + 1) > data_end)
        return XDP_PASS;
    __builtin_memcpy(&saved, eth, sizeof(saved));

    if (bpf_xdp_adjust_head(ctx, (int)outer_len))
        goto error;
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    struct iphdr *inner = (void *)(eth + 1);
    if ((void *)(inner + 1) > data_end)
        goto error;
    __builtin_memcpy(eth, &saved, sizeof(saved));
    count(ENCAP_DECAPSULATED);
    if ((trailer_flags & TRAILER_TRIM) && trim_to(ctx, bpf_ntohs(inner->tot_len)))
        goto error;
    return XDP_PASS;
error:
    count(ENCAP_ERRORS);
    return XDP_ABORTED;
}

static __always_inline int encapsulate(struct xdp_md *ctx, struct iphdr *inner, __u32 inner_len)
{
    struct iphdr outer = {
        .version = 4,
        .ihl = sizeof(struct iphdr) / 4,
        .tos = inner->tos,
        .tot_len = bpf_htons(inner_len + sizeof(struct iphdr)),
        .frag_off = inner->frag_off & bpf_htons(IPV4_DF),
        .ttl = tunnel_ttl,
        .protocol = IPPROTO_IPIP,
        .saddr = bpf_htonl(tunnel_local),
        .daddr = bpf_htonl(tunnel_remote),
    };
    outer.check = ipv4_header_checksum(&outer);

    struct ethhdr *eth = (void *)(long)ctx->data;
    struct ethhdr saved;
    // The caller has checked that the Ethernet and inner IPv4 headers are in the frame.
    __builtin_memcpy(saved.h_dest, eth->h_source, ETH_ALEN);
    __builtin_memcpy(saved.h_source, eth->h_dest, ETH_ALEN);
    saved.h_proto = bpf_htons(ETH_P_IP);

    if ((trailer_flags & TRAILER_TRIM) && trim_to(ctx, inner_len))
        goto error;
    if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
        goto error;

    eth = (void *)(long)ctx->data;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > (void *)(long)ctx->data_end)
        goto error;
    __builtin_memcpy(eth, &saved, sizeof(saved));
    __builtin_memcpy(ip, &outer, sizeof(outer));
    count(ENCAP_ENCAPSULATED);

    if (trailer_flags & TRAILER_APPEND) {
        __u32 old_len = ctx->data_end - ctx->data;
        __be32 trailer = bpf_htonl(trailer_value);
        if (bpf_xdp_adjust_tail(ctx, sizeof(trailer)))
            goto error;
        // The new bytes are at a run-time offset: bpf_xdp_store_bytes checks the bounds for us.
        if (bpf_xdp_store_bytes(ctx, old_len, &trailer, sizeof(trailer)))
            goto error;
        count(ENCAP_TRAILER_ADDED);
    }
    return XDP_TX;
error:
    count(ENCAP_ERRORS);
    return XDP_ABORTED;
}

SEC("xdp")
int xdp_encap(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);

    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        goto pass;
    __u32 header_len = ip->ihl * 4;
    __u32 ip_len = bpf_ntohs(ip->tot_len);
    if (ip->version != 4 || header_len < sizeof(*ip) || ip_len < header_len)
        goto pass;
    if ((void *)ip + ip_len > data_end) // truncated packet: leave it to the stack
        goto pass;

    if (ip->protocol == IPPROTO_IPIP && ip->daddr == bpf_htonl(tunnel_local)) {
        if (ip_len < header_len + sizeof(struct iphdr))
            goto pass;
        return decapsulate(ctx, header_len);
    }
    if (encap_dst != 0 && ip->daddr == bpf_htonl(encap_dst) && ip->protocol != IPPROTO_IPIP) {
        if (ip_len + sizeof(struct iphdr) > 0xffff)
            goto pass;
        return encapsulate(ctx, ip, ip_len);
    }
pass:
    count(ENCAP_PASSED);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
