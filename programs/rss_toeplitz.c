// rss_toeplitz.c — Toeplitz RSS hash, reported to the consumer of the frame through the XDP metadata area.
//
// This is the virtio-net RSS "hash report" in software: the hash a NIC would compute to choose a receive
// queue, plus the kind of input it was computed over, placed in 8 bytes in front of the frame with
// bpf_xdp_adjust_meta, where an AF_XDP consumer or a TC program finds it:
//     struct rss_meta { __u32 hash; __u32 hash_type; }   (host byte order, directly before ctx->data)
// hash_type uses virtio-net's VIRTIO_NET_HASH_REPORT_* values (see enum below).
//
// Hash input (Microsoft RSS / virtio-net definition), fields in network byte order, concatenated:
//   IPv4 TCP/UDP (not a fragment)      src addr, dst addr, src port, dst port   -> TCPv4 / UDPv4
//   other IPv4, and IPv4 fragments     src addr, dst addr                       -> IPv4
//   IPv6 with TCP/UDP as next header   src addr, dst addr, src port, dst port   -> TCPv6 / UDPv6
//   other IPv6 (incl. any extension header)  src addr, dst addr                 -> IPv6
//   not IP, or truncated               hash 0                                   -> NONE
// Up to two VLAN tags (802.1Q/802.1ad) are skipped. The *_EX types (hashing the IPv6 home-address option /
// routing header addresses) are not computed. Every frame passes (XDP_PASS), with its 8 bytes of metadata;
// if the driver cannot provide metadata (adjust_meta fails) the frame passes without it.
//
// Configuration (.rodata): rss_key[40], default = the Microsoft verification key, which gives the published
// test vectors in testdata/toeplitz-vectors.txt.
//
// Maps
//   hash_types  ARRAY  key __u32 hash type (0..9), value __u64 packets reported with that type
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_VLAN_TAGS 2
#define RSS_KEY_SIZE 40
#define MAX_HASH_INPUT 36 // IPv6 4-tuple: 16 + 16 + 2 + 2

// virtio-net hash report types (VIRTIO_NET_HASH_REPORT_*, virtio spec 5.1.6.4.3).
enum virtio_net_hash_report {
    VIRTIO_NET_HASH_REPORT_NONE = 0,
    VIRTIO_NET_HASH_REPORT_IPv4 = 1,
    VIRTIO_NET_HASH_REPORT_TCPv4 = 2,
    VIRTIO_NET_HASH_REPORT_UDPv4 = 3,
    VIRTIO_NET_HASH_REPORT_IPv6 = 4,
    VIRTIO_NET_HASH_REPORT_TCPv6 = 5,
    VIRTIO_NET_HASH_REPORT_UDPv6 = 6,
    VIRTIO_NET_HASH_REPORT_IPv6_EX = 7,
    VIRTIO_NET_HASH_REPORT_TCPv6_EX = 8,
    VIRTIO_NET_HASH_REPORT_UDPv6_EX = 9,
    VIRTIO_NET_HASH_REPORT_MAX = 10,
};

struct rss_meta {
    __u32 hash;
    __u32 hash_type;
};

volatile const __u8 rss_key[RSS_KEY_SIZE] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

struct ports {
    __be16 source;
    __be16 dest;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, VIRTIO_NET_HASH_REPORT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} hash_types SEC(".maps");

// Toeplitz: for every set bit i of the input (most significant bit of byte 0 first), XOR in the 32 key bits
// starting at key bit i. `window` holds those 32 key bits and slides one bit per input bit.
static __always_inline __u32 toeplitz_hash(const __u8 *input, __u32 len)
{
    __u32 hash = 0;
    __u32 window = (__u32)rss_key[0] << 24 | (__u32)rss_key[1] << 16 | (__u32)rss_key[2] << 8 | rss_key[3];

#pragma clang loop unroll(disable)
    for (__u32 i = 0; i < MAX_HASH_INPUT; i++) {
        if (i >= len)
            break;
        __u8 byte = input[i];
        __u8 next = rss_key[i + 4];
#pragma unroll
        for (int bit = 7; bit >= 0; bit--) {
            // Branch-free (mask is all ones when the bit is set): a branch per bit would make the verifier
            // walk 2^8 paths per input byte.
            hash ^= window & -(__u32)((byte >> bit) & 1);
            window = window << 1 | ((next >> bit) & 1);
        }
    }
    return hash;
}

// Fills input[] for one packet; returns the hash type, with *len set to the number of input bytes.
static __always_inline __u32 build_input(void *data, void *data_end, __u8 *input, __u32 *len)
{
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return VIRTIO_NET_HASH_REPORT_NONE;
    void *pos = eth + 1;
    __u16 proto = eth->h_proto;

#pragma unroll
    for (int i = 0; i < MAX_VLAN_TAGS; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_hdr *vlan = pos;
        if ((void *)(vlan + 1) > data_end)
            return VIRTIO_NET_HASH_REPORT_NONE;
        proto = vlan->encapsulated_proto;
        pos = vlan + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = pos;
        if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
            return VIRTIO_NET_HASH_REPORT_NONE;
        __builtin_memcpy(input, &ip->saddr, 4);
        __builtin_memcpy(input + 4, &ip->daddr, 4);
        *len = 8;
        if (ip->frag_off & bpf_htons(0x3fff)) // any fragment: ports are not (reliably) there
            return VIRTIO_NET_HASH_REPORT_IPv4;
        if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
            return VIRTIO_NET_HASH_REPORT_IPv4;
        struct ports *ports = pos + ip->ihl * 4;
        if ((void *)(ports + 1) > data_end)
            return VIRTIO_NET_HASH_REPORT_IPv4;
        __builtin_memcpy(input + 8, ports, sizeof(*ports));
        *len = 12;
        return ip->protocol == IPPROTO_TCP ? VIRTIO_NET_HASH_REPORT_TCPv4 : VIRTIO_NET_HASH_REPORT_UDPv4;
    }
    if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = pos;
        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            return VIRTIO_NET_HASH_REPORT_NONE;
        __builtin_memcpy(input, &ip6->saddr, 16);
        __builtin_memcpy(input + 16, &ip6->daddr, 16);
        *len = 32;
        if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
            return VIRTIO_NET_HASH_REPORT_IPv6;
        struct ports *ports = (void *)(ip6 + 1);
        if ((void *)(ports + 1) > data_end)
            return VIRTIO_NET_HASH_REPORT_IPv6;
        __builtin_memcpy(input + 32, ports, sizeof(*ports));
        *len = 36;
        return ip6->nexthdr == IPPROTO_TCP ? VIRTIO_NET_HASH_REPORT_TCPv6 : VIRTIO_NET_HASH_REPORT_UDPv6;
    }
    return VIRTIO_NET_HASH_REPORT_NONE;
}

SEC("xdp")
int xdp_rss_toeplitz(struct xdp_md *ctx)
{
    __u8 input[MAX_HASH_INPUT] = {};
    __u32 len = 0;
    __u32 hash_type = build_input((void *)(long)ctx->data, (void *)(long)ctx->data_end, input, &len);
    __u32 hash = hash_type == VIRTIO_NET_HASH_REPORT_NONE ? 0 : toeplitz_hash(input, len);

    __u64 *count = bpf_map_lookup_elem(&hash_types, &hash_type);
    if (count)
        __sync_fetch_and_add(count, 1);

    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct rss_meta)))
        return XDP_PASS;
    // Pointers are invalid after adjust_meta; the verifier wants meta + size <= data proven again.
    struct rss_meta *meta = (void *)(long)ctx->data_meta;
    if ((void *)(meta + 1) > (void *)(long)ctx->data)
        return XDP_PASS;
    meta->hash = hash;
    meta->hash_type = hash_type;
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
