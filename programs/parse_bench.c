// parse_bench.c — the interpreter benchmark's workload: a typical fixed-cost Ethernet/IPv4/UDP parse.
//
// Per packet: bounds-checked Ethernet, IPv4 and UDP headers, length and fragment checks, an IPv4 header
// checksum verification, a small
// multiplicative hash over the 4-tuple that picks one of 64 flow buckets, an atomic count into that bucket,
// and a verdict: UDP to port 9 (discard) is dropped, everything else passes. A well-formed UDP packet executes
// roughly 100 BPF instructions (see README.md for the exact count), which makes per-instruction interpreter
// overhead dominate, as in real parsers.
//
// Maps
//   buckets  ARRAY  key __u32 bucket (0..63), value struct bucket { __u64 packets; __u64 bytes; }
//   errors   ARRAY  key __u32 (0 = not IPv4/UDP or a fragment, 1 = truncated, 2 = bad IPv4
//                 checksum, 3 = IPv4/UDP lengths disagree), value __u64
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define BUCKETS 64
#define DISCARD_PORT 9

struct bucket {
    __u64 packets;
    __u64 bytes;
};

enum error_kind {
    ERR_NOT_UDP,
    ERR_TRUNCATED,
    ERR_CHECKSUM,
    ERR_LENGTH,
    ERR_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, BUCKETS);
    __type(key, __u32);
    __type(value, struct bucket);
} buckets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, ERR_MAX);
    __type(key, __u32);
    __type(value, __u64);
} errors SEC(".maps");

static __always_inline int fail(__u32 kind)
{
    __u64 *value = bpf_map_lookup_elem(&errors, &kind);
    if (value)
        __sync_fetch_and_add(value, 1);
    return XDP_PASS;
}

SEC("xdp")
int xdp_parse_bench(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return fail(ERR_TRUNCATED);
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return fail(ERR_NOT_UDP);

    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return fail(ERR_TRUNCATED);
    if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)))
        return fail(ERR_NOT_UDP);
    __u32 ip_len = bpf_ntohs(ip->tot_len);
    if (ip_len < sizeof(*ip) + sizeof(struct udphdr))
        return fail(ERR_LENGTH);
    if ((void *)ip + ip_len > data_end)
        return fail(ERR_TRUNCATED);

    // One's-complement sum over the 20-byte header, checksum field included: a valid header folds to 0xffff.
    const __u16 *word = (const __u16 *)ip;
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < 10; i++)
        sum += word[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff)
        return fail(ERR_CHECKSUM);

    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > data_end)
        return fail(ERR_TRUNCATED);
    if (bpf_ntohs(udp->len) != ip_len - sizeof(*ip))
        return fail(ERR_LENGTH);

    // Multiplicative hash of the 4-tuple (Knuth's constant), top bits select the bucket.
    __u32 hash = ip->saddr * 2654435761u;
    hash ^= ip->daddr;
    hash *= 2654435761u;
    hash ^= ((__u32)udp->source << 16) | udp->dest;
    hash *= 2654435761u;
    hash ^= hash >> 15;
    hash *= 2654435761u;
    __u32 index = hash >> 26; // 0..63

    struct bucket *b = bpf_map_lookup_elem(&buckets, &index);
    if (b) {
        __sync_fetch_and_add(&b->packets, 1);
        __sync_fetch_and_add(&b->bytes, (__u64)(data_end - data));
    }
    return udp->dest == bpf_htons(DISCARD_PORT) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
