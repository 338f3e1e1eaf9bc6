// counters.c — traffic accounting: per IP protocol, per IPv4 source, and a per-CPU frame counter.
//
// Every frame passes (XDP_PASS); the program only counts. Shared counters are updated with
// __sync_fetch_and_add, which compiles to BPF atomic adds, because several CPUs may update the same map value
// at once. The per-CPU array needs no atomics: each CPU has its own copy.
//
// Maps
//   proto_stats    ARRAY         key __u32 IP protocol number (IPv4 protocol / IPv6 next header, 0..255),
//                                value struct counter { __u64 packets; __u64 bytes; }
//   source_stats   HASH          key __u32 IPv4 source address (network byte order), value struct counter;
//                                at most 4096 sources, further new sources are counted in totals[TOTAL_SOURCES_DROPPED]
//   totals         ARRAY         key __u32 enum total, value __u64 (distinct sources seen, sources not tracked)
//   frames         PERCPU_ARRAY  key __u32 (0 = all frames, 1 = non-IP frames), value __u64 per CPU
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Hash-map updates fail with -E2BIG when the map is full (errno.h is not usable from BPF C).
#define E2BIG_MAP_FULL 7

struct counter {
    __u64 packets;
    __u64 bytes;
};

enum total {
    TOTAL_SOURCES_SEEN,
    TOTAL_SOURCES_DROPPED,
    TOTAL_MAX,
};

enum frame_kind {
    FRAMES_ALL,
    FRAMES_NON_IP,
    FRAMES_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, struct counter);
} proto_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, struct counter);
} source_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TOTAL_MAX);
    __type(key, __u32);
    __type(value, __u64);
} totals SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FRAMES_MAX);
    __type(key, __u32);
    __type(value, __u64);
} frames SEC(".maps");

static __always_inline void count_frame(__u32 kind)
{
    __u64 *value = bpf_map_lookup_elem(&frames, &kind);
    if (value)
        *value += 1; // per-CPU: no other CPU writes this copy
}

static __always_inline void add_total(__u32 which)
{
    __u64 *value = bpf_map_lookup_elem(&totals, &which);
    if (value)
        __sync_fetch_and_add(value, 1);
}

static __always_inline void count_protocol(__u32 proto, __u64 bytes)
{
    struct counter *c = bpf_map_lookup_elem(&proto_stats, &proto);
    if (c) {
        __sync_fetch_and_add(&c->packets, 1);
        __sync_fetch_and_add(&c->bytes, bytes);
    }
}

static __always_inline void count_source(__u32 saddr, __u64 bytes)
{
    struct counter *c = bpf_map_lookup_elem(&source_stats, &saddr);
    if (!c) {
        // Insert a zero entry; if another CPU raced us, BPF_NOEXIST fails harmlessly and we use theirs.
        struct counter zero = {};
        if (bpf_map_update_elem(&source_stats, &saddr, &zero, BPF_NOEXIST) == -E2BIG_MAP_FULL) {
            add_total(TOTAL_SOURCES_DROPPED);
            return;
        }
        c = bpf_map_lookup_elem(&source_stats, &saddr);
        if (!c)
            return;
    }
    // The value before the add tells whether this is the source's first packet (atomic fetch-and-add).
    if (__sync_fetch_and_add(&c->packets, 1) == 0)
        add_total(TOTAL_SOURCES_SEEN);
    __sync_fetch_and_add(&c->bytes, bytes);
}

SEC("xdp")
int xdp_counters(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u64 bytes = data_end - data;
    struct ethhdr *eth = data;

    count_frame(FRAMES_ALL);
    if ((void *)(eth + 1) > data_end)
        goto non_ip;

    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end)
            goto non_ip;
        count_protocol(ip->protocol, bytes);
        count_source(ip->saddr, bytes);
        return XDP_PASS;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > data_end)
            goto non_ip;
        count_protocol(ip6->nexthdr, bytes);
        return XDP_PASS;
    }
non_ip:
    count_frame(FRAMES_NON_IP);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
