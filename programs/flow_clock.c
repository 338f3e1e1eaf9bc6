// flow_clock.c — per-source flow records stamped with bpf_ktime_get_ns, and every kind of type a map dump decodes.
//
// Every frame passes (XDP_PASS). An IPv4 frame updates its source's record in `flows`: packet and byte counts, the
// time of the first and the last packet (bpf_ktime_get_ns: in replay the capture's clock, in the kernel its
// CLOCK_MONOTONIC, so these fields differ from the kernel's by design), the protocol, and a few bitfields. Every
// frame is counted per CPU in `by_class` by its size class, and `last_packet_ns` (.bss) holds the last time stamp.
//
// Maps
//   flows      HASH          key __u32 IPv4 source address (network byte order), value struct flow (below)
//   by_class   PERCPU_ARRAY  key __u32 enum size_class (0 small, 1 medium, 2 large), value __u64 frames per CPU
//   .bss       last_packet_ns (__u64, a time stamp), frames_seen (__u32)
//   .data      adjust (__s32, -5: a signed number), tag (char[4], "flw")
//   .rodata    large_len (__u32, 1000), medium_len (__u16, 200)
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum size_class {
    SIZE_SMALL,
    SIZE_MEDIUM,
    SIZE_LARGE,
};

struct flow {
    __u64 packets;
    __u64 bytes;
    __u64 first_seen; // bpf_ktime_get_ns() of the first packet
    __u64 last_seen;  // bpf_ktime_get_ns() of the latest packet
    __u8 proto;
    __u8 fragmented : 1; // MF set or a fragment offset
    __u8 ttl_class : 3;  // ttl / 32
    __s8 bias : 4;       // always -3: a signed bitfield
    bool large_seen;
    char tag[4];           // "flw"
    enum size_class last_class;
    __u16 lengths[3]; // the last three frame lengths, newest first
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct flow);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __type(value, __u64);
} by_class SEC(".maps");

volatile const __u32 large_len = 1000;
volatile const __u16 medium_len = 200;
__s32 adjust = -5;
char tag[4] = "flw";
__u64 last_packet_ns;
__u32 frames_seen;

SEC("xdp")
int xdp_flow_clock(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 len = data_end - data;
    __u64 now = bpf_ktime_get_ns();

    last_packet_ns = now;
    __sync_fetch_and_add(&frames_seen, 1);

    __u32 class = len >= large_len ? SIZE_LARGE : len >= medium_len ? SIZE_MEDIUM : SIZE_SMALL;
    __u64 *count = bpf_map_lookup_elem(&by_class, &class);
    if (count)
        *count += 1;

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return XDP_PASS;

    __u32 source = ip->saddr;
    struct flow *flow = bpf_map_lookup_elem(&flows, &source);
    if (!flow) {
        struct flow fresh = {};
        fresh.first_seen = now;
        fresh.bias = -3;
        fresh.tag[0] = tag[0];
        fresh.tag[1] = tag[1];
        fresh.tag[2] = tag[2];
        bpf_map_update_elem(&flows, &source, &fresh, BPF_NOEXIST);
        flow = bpf_map_lookup_elem(&flows, &source);
        if (!flow)
            return XDP_PASS;
    }
    flow->packets += 1;
    flow->bytes += len;
    flow->last_seen = now;
    flow->proto = ip->protocol;
    flow->fragmented = (ip->frag_off & bpf_htons(0x3fff)) != 0;
    flow->ttl_class = ip->ttl / 32;
    if (class == SIZE_LARGE)
        flow->large_seen = true;
    flow->last_class = class;
    flow->lengths[2] = flow->lengths[1];
    flow->lengths[1] = flow->lengths[0];
    flow->lengths[0] = len;
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
