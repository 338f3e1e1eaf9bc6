// lru_flows.c — a flow table: packets, bytes and TCP flags per 5-tuple, in an LRU hash.
//
// IPv4 TCP/UDP/ICMP flows (untagged) are tracked; when the table is full the kernel evicts the least recently
// used flows to make room, so the table never refuses a new flow. Flow values are updated atomically.
// Every frame passes (XDP_PASS).
//
// Maps
//   flows         LRU_HASH  key struct flow_key (16 bytes), value struct flow_stats (24 bytes); 1024 flows
//   flow_events   ARRAY     key __u32 (0 = new flows, 1 = packets of known flows, 2 = not tracked), value __u64
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
    __be32 saddr;
    __be32 daddr;
    __be16 sport;      // 0 for ICMP
    __be16 dport;      // 0 for ICMP
    __u8 proto;
    __u8 pad[3];       // always zero: hash keys are compared byte by byte
};

struct flow_stats {
    __u64 packets;
    __u64 bytes;
    __u32 tcp_flags;   // OR of every TCP flags byte seen
    __u32 pad;
};

enum flow_event {
    FLOW_NEW,
    FLOW_KNOWN,
    FLOW_NOT_TRACKED,
    FLOW_EVENT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1024);
    __type(key, struct flow_key);
    __type(value, struct flow_stats);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, FLOW_EVENT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} flow_events SEC(".maps");

static __always_inline int count(__u32 event)
{
    __u64 *value = bpf_map_lookup_elem(&flow_events, &event);
    if (value)
        __sync_fetch_and_add(value, 1);
    return XDP_PASS;
}

SEC("xdp")
int xdp_lru_flows(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl < 5)
        return count(FLOW_NOT_TRACKED);

    struct flow_key key = {
        .saddr = ip->saddr,
        .daddr = ip->daddr,
        .proto = ip->protocol,
    };
    __u32 tcp_flags = 0;
    void *l4 = (void *)ip + ip->ihl * 4;
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = l4;
        if ((void *)(tcp + 1) > data_end)
            return count(FLOW_NOT_TRACKED);
        key.sport = tcp->source;
        key.dport = tcp->dest;
        tcp_flags = ((__u8 *)tcp)[13]; // CWR ECE URG ACK PSH RST SYN FIN
    } else if (ip->protocol == IPPROTO_UDP) {
        __be16 *ports = l4;
        if ((void *)(ports + 2) > data_end)
            return count(FLOW_NOT_TRACKED);
        key.sport = ports[0];
        key.dport = ports[1];
    } else if (ip->protocol != IPPROTO_ICMP) {
        return count(FLOW_NOT_TRACKED);
    }

    __u64 bytes = data_end - data;
    struct flow_stats *stats = bpf_map_lookup_elem(&flows, &key);
    if (!stats) {
        struct flow_stats fresh = { .packets = 1, .bytes = bytes, .tcp_flags = tcp_flags };
        // BPF_NOEXIST: if another CPU created the flow meanwhile, fall through and add to theirs.
        if (bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST) == 0)
            return count(FLOW_NEW);
        stats = bpf_map_lookup_elem(&flows, &key);
        if (!stats)
            return count(FLOW_NOT_TRACKED);
    }
    __sync_fetch_and_add(&stats->packets, 1);
    __sync_fetch_and_add(&stats->bytes, bytes);
    __sync_fetch_and_or(&stats->tcp_flags, tcp_flags);
    return count(FLOW_KNOWN);
}

char _license[] SEC("license") = "GPL";
