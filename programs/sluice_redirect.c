// SPDX-License-Identifier: GPL-2.0
// Sluice's kernel-side program: hand every frame to the AF_XDP socket bound to its RX queue, except traffic the
// kernel stack should see directly (EtherTypes such as ARP, and individual IPv4 flows), which Sluice lists in maps.
// With no socket on the queue, bpf_redirect_map's fallback action XDP_PASS keeps the interface usable.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

// Key: EtherType in network byte order (as it sits in the frame). Value: unused (1).
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u16);
    __type(value, __u8);
} pass_ethertypes SEC(".maps");

// An IPv4 5-tuple, every field in network byte order; ports are 0 for protocols without ports.
struct sluice_flow_v4 {
    __u32 saddr;
    __u32 daddr;
    __u16 sport;
    __u16 dport;
    __u8 protocol;
    __u8 pad[3];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct sluice_flow_v4);
    __type(value, __u8);
} pass_flows SEC(".maps");

// Frames the program itself sent to the stack, per CPU, so Sluice can report "PASS in kernel" next to its own
// counters: [0] by EtherType, [1] by flow, [2] no socket bound on the queue (bpf_redirect_map's fallback).
enum { SLUICE_PASS_ETHERTYPE = 0, SLUICE_PASS_FLOW = 1, SLUICE_PASS_NO_SOCKET = 2, SLUICE_COUNTERS = 4 };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, SLUICE_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} pass_counters SEC(".maps");

static __always_inline int count_pass(__u32 index)
{
    __u64 *counter = bpf_map_lookup_elem(&pass_counters, &index);
    if (counter)
        *counter += 1;
    return XDP_PASS;
}

static __always_inline int flow_passes(void *data, void *data_end, struct ethhdr *eth)
{
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->ihl < 5)
        return 0;
    struct sluice_flow_v4 key = {};
    key.saddr = ip->saddr;
    key.daddr = ip->daddr;
    key.protocol = ip->protocol;
    if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
        // Only the first fragment carries the ports.
        if (ip->frag_off & bpf_htons(0x1fff))
            return 0;
        __u16 *ports = (void *)ip + ip->ihl * 4;
        if ((void *)(ports + 2) > data_end)
            return 0;
        key.sport = ports[0];
        key.dport = ports[1];
    }
    return bpf_map_lookup_elem(&pass_flows, &key) != 0;
}

SEC("xdp")
int sluice_redirect(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) <= data_end) {
        __u16 proto = eth->h_proto;
        if (bpf_map_lookup_elem(&pass_ethertypes, &proto))
            return count_pass(SLUICE_PASS_ETHERTYPE);
        if (proto == bpf_htons(ETH_P_IP) && flow_passes(data, data_end, eth))
            return count_pass(SLUICE_PASS_FLOW);
    }
    int action = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
    if (action == XDP_PASS)
        count_pass(SLUICE_PASS_NO_SOCKET);
    return action;
}

char _license[] SEC("license") = "GPL";
