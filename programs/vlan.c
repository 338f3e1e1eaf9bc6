// vlan.c — VLAN tag pop and push with bpf_xdp_adjust_head.
//
// Configuration (read-only globals in .rodata, set before load, e.g. `--set push_vid=200`):
//   mode       VLAN_MODE_AUTO (0, default): a tagged frame loses its outer tag; an untagged frame gets a tag
//                                           with push_vid, if push_vid != 0.
//              VLAN_MODE_POP  (1): only pop the outer tag of tagged frames.
//              VLAN_MODE_PUSH (2): push a tag on every frame (also on top of an existing tag: QinQ inside),
//                                  if push_vid != 0.
//   push_vid   VLAN id (1..4094) to push; 0 disables pushing. Default 100.
//   push_pcp   priority code point (0..7) of pushed tags. Default 0.
// Pushed tags use TPID 0x8100 (802.1Q). Pop accepts 0x8100 and 0x88a8 (802.1ad) outer tags.
// Frames shorter than an Ethernet header (or a tagged frame shorter than header + tag) pass untouched.
// Every frame is returned with XDP_PASS, modified or not.
// pop_tag and push_tag are real BPF-to-BPF calls (sub-programs in .text), not inlined.
//
// Maps
//   vlan_stats  ARRAY  key __u32 enum vlan_stat, value __u64 packets
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum vlan_mode {
    VLAN_MODE_AUTO = 0,
    VLAN_MODE_POP = 1,
    VLAN_MODE_PUSH = 2,
};

volatile const __u8 mode = VLAN_MODE_AUTO;
volatile const __u16 push_vid = 100;
volatile const __u8 push_pcp = 0;

struct vlan_hdr {
    __be16 tci;
    __be16 encapsulated_proto;
};

enum vlan_stat {
    VLAN_UNTOUCHED,
    VLAN_POPPED,
    VLAN_PUSHED,
    VLAN_ERRORS,   // bpf_xdp_adjust_head refused (e.g. no headroom) or the frame was too short afterwards
    VLAN_STAT_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, VLAN_STAT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} vlan_stats SEC(".maps");

static __always_inline int count(__u32 stat)
{
    __u64 *value = bpf_map_lookup_elem(&vlan_stats, &stat);
    if (value)
        __sync_fetch_and_add(value, 1);
    return XDP_PASS;
}

static __always_inline int is_vlan(__be16 proto)
{
    return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

// Removes the outer tag: the MAC addresses move 4 bytes towards the payload and the frame starts 4 bytes later.
static __noinline int pop_tag(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct vlan_hdr *vlan = (void *)(eth + 1);
    if ((void *)(vlan + 1) > data_end)
        return count(VLAN_ERRORS);

    struct ethhdr saved;
    __builtin_memcpy(saved.h_dest, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(saved.h_source, eth->h_source, ETH_ALEN);
    saved.h_proto = vlan->encapsulated_proto;

    if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct vlan_hdr)))
        return count(VLAN_ERRORS);

    // Packet pointers are invalid after adjust_head: reload and check again.
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end)
        return count(VLAN_ERRORS);
    __builtin_memcpy(eth, &saved, sizeof(saved));
    return count(VLAN_POPPED);
}

// Inserts a tag after the MAC addresses: the frame grows by 4 bytes at the front.
static __noinline int push_tag(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return count(VLAN_UNTOUCHED);

    struct ethhdr saved;
    __builtin_memcpy(&saved, eth, sizeof(saved));

    if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct vlan_hdr)))
        return count(VLAN_ERRORS);

    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    struct vlan_hdr *vlan = (void *)(eth + 1);
    if ((void *)(vlan + 1) > data_end)
        return count(VLAN_ERRORS);
    __builtin_memcpy(eth->h_dest, saved.h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_source, saved.h_source, ETH_ALEN);
    eth->h_proto = bpf_htons(ETH_P_8021Q);
    vlan->tci = bpf_htons(((__u16)(push_pcp & 0x7) << 13) | (push_vid & 0x0fff));
    vlan->encapsulated_proto = saved.h_proto;
    return count(VLAN_PUSHED);
}

SEC("xdp")
int xdp_vlan(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) > data_end)
        return count(VLAN_UNTOUCHED);
    int tagged = is_vlan(eth->h_proto);

    switch (mode) {
    case VLAN_MODE_POP:
        return tagged ? pop_tag(ctx) : count(VLAN_UNTOUCHED);
    case VLAN_MODE_PUSH:
        return push_vid ? push_tag(ctx) : count(VLAN_UNTOUCHED);
    default:
        if (tagged)
            return pop_tag(ctx);
        return push_vid ? push_tag(ctx) : count(VLAN_UNTOUCHED);
    }
}

char _license[] SEC("license") = "GPL";
