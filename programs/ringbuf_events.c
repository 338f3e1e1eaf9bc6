// ringbuf_events.c — one event record per frame, streamed to user space through a BPF ring buffer.
//
// IP frames (IPv4/IPv6, untagged) are described by a struct ip_event written in place into the ring:
// bpf_ringbuf_reserve, fill, bpf_ringbuf_submit (zero copy). All other frames produce a smaller struct
// frame_event built on the stack and copied in with bpf_ringbuf_output. Every event starts with the same
// header (kind, frame length, EtherType), and carries the first bytes of the frame.
// When the ring is full the event is lost and counted in `lost`. Every frame passes (XDP_PASS).
//
// Maps
//   events  RINGBUF  64 KiB of records (struct ip_event: 64 bytes, struct frame_event: 32 bytes)
//   lost    ARRAY    key __u32 0, value __u64 events that did not fit in the ring
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IP_SAMPLE 40
#define FRAME_SAMPLE 20

enum event_kind {
    EVENT_IPV4 = 4,
    EVENT_IPV6 = 6,
    EVENT_OTHER = 255,
};

struct event_header {
    __u8 kind;           // enum event_kind
    __u8 sample_len;     // bytes of the frame copied into sample[]
    __be16 ether_type;   // 0 if the frame is shorter than an Ethernet header
    __u32 frame_len;
};

struct ip_event {
    struct event_header header;
    __u8 ip_proto;       // IPv4 protocol / IPv6 next header
    __u8 ttl;            // TTL / hop limit
    __u8 pad[14];
    __u8 sample[IP_SAMPLE];
};

struct frame_event {
    struct event_header header;
    __u8 pad[4];
    __u8 sample[FRAME_SAMPLE];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} lost SEC(".maps");

static __always_inline int count_lost(void)
{
    __u32 zero = 0;
    __u64 *value = bpf_map_lookup_elem(&lost, &zero);
    if (value)
        __sync_fetch_and_add(value, 1);
    return XDP_PASS;
}

// Copies up to `max` leading bytes of the frame; returns how many.
static __always_inline __u32 copy_sample(struct xdp_md *ctx, __u8 *sample, __u32 max)
{
    __u32 len = ctx->data_end - ctx->data;
    if (len > max)
        len = max;
    if (len == 0 || bpf_xdp_load_bytes(ctx, 0, sample, len))
        return 0;
    return len;
}

SEC("xdp")
int xdp_ringbuf_events(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 frame_len = data_end - data;
    __be16 ether_type = 0;
    __u8 ip_proto = 0, ttl = 0, kind = EVENT_OTHER;

    if ((void *)(eth + 1) <= data_end) {
        ether_type = eth->h_proto;
        if (ether_type == bpf_htons(ETH_P_IP)) {
            struct iphdr *ip = (void *)(eth + 1);
            if ((void *)(ip + 1) <= data_end) {
                kind = EVENT_IPV4;
                ip_proto = ip->protocol;
                ttl = ip->ttl;
            }
        } else if (ether_type == bpf_htons(ETH_P_IPV6)) {
            struct ipv6hdr *ip6 = (void *)(eth + 1);
            if ((void *)(ip6 + 1) <= data_end) {
                kind = EVENT_IPV6;
                ip_proto = ip6->nexthdr;
                ttl = ip6->hop_limit;
            }
        }
    }

    if (kind != EVENT_OTHER) {
        // Zero copy: the record is written directly into the ring, then published.
        struct ip_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
        if (!event)
            return count_lost();
        __builtin_memset(event, 0, sizeof(*event));
        event->header.kind = kind;
        event->header.ether_type = ether_type;
        event->header.frame_len = frame_len;
        event->ip_proto = ip_proto;
        event->ttl = ttl;
        event->header.sample_len = copy_sample(ctx, event->sample, IP_SAMPLE);
        bpf_ringbuf_submit(event, 0);
        return XDP_PASS;
    }

    // Copy: the record is built on the stack and copied into the ring in one call.
    struct frame_event event = {};
    event.header.kind = kind;
    event.header.ether_type = ether_type;
    event.header.frame_len = frame_len;
    event.header.sample_len = copy_sample(ctx, event.sample, FRAME_SAMPLE);
    if (bpf_ringbuf_output(&events, &event, sizeof(event), 0))
        return count_lost();
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
