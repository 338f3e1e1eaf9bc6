// lpm_filter.c — IPv4 prefix blocklist with a longest-prefix-match trie.
//
// An IPv4 packet (untagged or with one 802.1Q/802.1ad tag) whose source address falls in a prefix of
// `blocklist` is dropped; so is one whose destination falls in a prefix whose value has BLOCK_DESTINATION set.
// Everything else passes, including truncated headers (the stack drops those itself).
//
// Maps
//   blocklist   LPM_TRIE  key struct ipv4_lpm_key { __u32 prefixlen; __u8 addr[4] (network order) },
//                         value __u32 flags: BLOCK_SOURCE (1) and/or BLOCK_DESTINATION (2); 1024 prefixes
//   lpm_stats   ARRAY     key __u32 enum lpm_stat, value __u64 packets
// Example entry: 10.0.0.0/8 blocked as a source: key 08000000 0a000000, value 01000000.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define BLOCK_SOURCE 1
#define BLOCK_DESTINATION 2

struct ipv4_lpm_key {
    __u32 prefixlen;   // host byte order, 0..32
    __u8 addr[4];      // network byte order
};

struct vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

enum lpm_stat {
    LPM_PASSED,
    LPM_DROPPED_SOURCE,
    LPM_DROPPED_DESTINATION,
    LPM_NOT_IPV4,
    LPM_STAT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, 1024);
    __uint(map_flags, BPF_F_NO_PREALLOC); // required for LPM tries
    __type(key, struct ipv4_lpm_key);
    __type(value, __u32);
} blocklist SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, LPM_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} lpm_stats SEC(".maps");

static __always_inline int count(__u32 stat, int action)
{
    __u64 *value = bpf_map_lookup_elem(&lpm_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
    return action;
}

static __always_inline __u32 lookup_flags(__be32 addr)
{
    struct ipv4_lpm_key key = { .prefixlen = 32 };
    __builtin_memcpy(key.addr, &addr, sizeof(addr));
    __u32 *flags = bpf_map_lookup_elem(&blocklist, &key);
    return flags ? *flags : 0;
}

SEC("xdp")
int xdp_lpm_filter(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return count(LPM_NOT_IPV4, XDP_PASS);
    void *pos = eth + 1;
    __be16 proto = eth->h_proto;
    if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
        struct vlan_hdr *vlan = pos;
        if ((void *)(vlan + 1) > data_end)
            return count(LPM_NOT_IPV4, XDP_PASS);
        proto = vlan->encapsulated_proto;
        pos = vlan + 1;
    }
    struct iphdr *ip = pos;
    if (proto != bpf_htons(ETH_P_IP) || (void *)(ip + 1) > data_end)
        return count(LPM_NOT_IPV4, XDP_PASS);

    if (lookup_flags(ip->saddr) & BLOCK_SOURCE)
        return count(LPM_DROPPED_SOURCE, XDP_DROP);
    if (lookup_flags(ip->daddr) & BLOCK_DESTINATION)
        return count(LPM_DROPPED_DESTINATION, XDP_DROP);
    return count(LPM_PASSED, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
