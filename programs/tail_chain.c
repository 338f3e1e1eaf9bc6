// tail_chain.c — a three-stage pipeline of XDP programs joined by tail calls: parse -> classify -> verdict.
//
// Entry point: xdp_chain_parse (the first program). Stages hand results to each other in the XDP metadata area
// (struct chain_meta, 8 bytes in front of the frame), which survives tail calls. The PROG_ARRAY `chain` is
// filled at load time from its BTF-defined initialiser (`.values = { [STAGE_CLASSIFY] = ..., ... }`): libbpf
// (and Sluice) put the stage programs in the slots; nothing has to be inserted from user space.
//
// Slot STAGE_IPV6 is deliberately left empty: it is where a user would plug in an IPv6 stage. classify tries
// it for IPv6 packets, and when the tail call fails (empty slot) falls back to the verdict stage (counted in
// chain_stats[CHAIN_IPV6_STAGE_MISSING]). Any other failing tail call (e.g. a slot deleted from user space) is
// counted in chain_stats[CHAIN_TAIL_CALL_FAILED] and the frame passes.
//
// Policy (verdict stage): UDP to port 19 (chargen) or 1900 (SSDP) is dropped; everything else passes.
// The metadata (8 bytes) stays in front of passed frames.
//
// Maps
//   chain        PROG_ARRAY  key __u32 stage, value program fd; 4 slots: 0 parse, 1 classify, 2 verdict,
//                            3 the optional IPv6 stage (empty)
//   chain_stats  ARRAY       key __u32 enum chain_stat, value __u64 packets
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum stage {
    STAGE_PARSE = 0, // the entry program (also in the array, so a stage could restart the chain)
    STAGE_CLASSIFY = 1,
    STAGE_VERDICT = 2,
    STAGE_IPV6 = 3,  // optional, empty by default
    STAGE_MAX,
};

enum traffic_class {
    CLASS_UNPARSED,  // not IP, or truncated
    CLASS_TCP,
    CLASS_UDP,
    CLASS_ICMP,
    CLASS_OTHER_IP,
    CLASS_BLOCKED,
};

enum chain_stat {
    CHAIN_PARSED,
    CHAIN_CLASSIFIED,
    CHAIN_IPV6_STAGE_MISSING,
    CHAIN_TAIL_CALL_FAILED,
    CHAIN_PASSED,
    CHAIN_DROPPED,
    CHAIN_STAT_MAX,
};

// Written by parse, completed by classify, read by verdict.
struct chain_meta {
    __be16 l3_proto;   // EtherType
    __u8 l4_proto;     // IP protocol, 0 if unknown
    __u8 traffic_class;
    __u16 dest_port;   // host byte order, 0 if none
    __u16 reserved;
};

int xdp_chain_parse(struct xdp_md *ctx);
int xdp_chain_classify(struct xdp_md *ctx);
int xdp_chain_verdict(struct xdp_md *ctx);

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, STAGE_MAX);
    __uint(key_size, sizeof(__u32)); // PROG_ARRAY keys and values are sizes only: the kernel takes no BTF types
    __array(values, int(struct xdp_md *));
} chain SEC(".maps") = {
    .values = {
        [STAGE_PARSE] = (void *)&xdp_chain_parse,
        [STAGE_CLASSIFY] = (void *)&xdp_chain_classify,
        [STAGE_VERDICT] = (void *)&xdp_chain_verdict,
    },
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, CHAIN_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} chain_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
    __u64 *value = bpf_map_lookup_elem(&chain_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
}

// A successful tail call does not return. If we get here, the slot was empty (or the chain too long).
static __always_inline int tail_call_failed(void)
{
    count(CHAIN_TAIL_CALL_FAILED);
    return XDP_PASS;
}

static __always_inline struct chain_meta *get_meta(struct xdp_md *ctx)
{
    struct chain_meta *meta = (void *)(long)ctx->data_meta;
    if ((void *)(meta + 1) > (void *)(long)ctx->data)
        return 0;
    return meta;
}

SEC("xdp")
int xdp_chain_parse(struct xdp_md *ctx)
{
    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct chain_meta)))
        return XDP_PASS;
    struct chain_meta *meta = get_meta(ctx);
    if (!meta)
        return XDP_PASS;
    __builtin_memset(meta, 0, sizeof(*meta));

    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        goto next;
    meta->l3_proto = eth->h_proto;

    void *l4 = 0;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end || ip->ihl < 5)
            goto next;
        meta->l4_proto = ip->protocol;
        if (!(ip->frag_off & bpf_htons(0x1fff)))
            l4 = (void *)ip + ip->ihl * 4;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > data_end)
            goto next;
        meta->l4_proto = ip6->nexthdr;
        l4 = ip6 + 1;
    }
    if (l4 && (meta->l4_proto == IPPROTO_TCP || meta->l4_proto == IPPROTO_UDP)) {
        __be16 *ports = l4; // source port, destination port: the same place in TCP and UDP
        if ((void *)(ports + 2) <= data_end)
            meta->dest_port = bpf_ntohs(ports[1]);
    }
next:
    count(CHAIN_PARSED);
    bpf_tail_call(ctx, &chain, STAGE_CLASSIFY);
    return tail_call_failed();
}

SEC("xdp")
int xdp_chain_classify(struct xdp_md *ctx)
{
    struct chain_meta *meta = get_meta(ctx);
    if (!meta)
        return tail_call_failed();

    __u8 class = CLASS_UNPARSED;
    if (meta->l3_proto == bpf_htons(ETH_P_IP) || meta->l3_proto == bpf_htons(ETH_P_IPV6)) {
        switch (meta->l4_proto) {
        case IPPROTO_TCP:
            class = CLASS_TCP;
            break;
        case IPPROTO_UDP:
            class = (meta->dest_port == 19 || meta->dest_port == 1900) ? CLASS_BLOCKED : CLASS_UDP;
            break;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6:
            class = CLASS_ICMP;
            break;
        default:
            class = CLASS_OTHER_IP;
        }
    }
    meta->traffic_class = class;
    count(CHAIN_CLASSIFIED);

    if (meta->l3_proto == bpf_htons(ETH_P_IPV6)) {
        bpf_tail_call(ctx, &chain, STAGE_IPV6);
        // No IPv6 stage installed: carry on with the common verdict.
        count(CHAIN_IPV6_STAGE_MISSING);
    }
    bpf_tail_call(ctx, &chain, STAGE_VERDICT);
    return tail_call_failed();
}

SEC("xdp")
int xdp_chain_verdict(struct xdp_md *ctx)
{
    struct chain_meta *meta = get_meta(ctx);
    if (meta && meta->traffic_class == CLASS_BLOCKED) {
        count(CHAIN_DROPPED);
        return XDP_DROP;
    }
    count(CHAIN_PASSED);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
