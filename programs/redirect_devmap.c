// redirect_devmap.c — forwarding with XDP_REDIRECT: through a DEVMAP, and directly by interface index.
//
//   IPv4 frames  -> bpf_redirect_map(&tx_ports, ipv4_port, XDP_PASS): the interface in slot ipv4_port of the
//                   DEVMAP; if that slot is empty the helper returns the fallback action, XDP_PASS.
//   IPv6 frames  -> bpf_redirect(ipv6_ifindex, 0) if ipv6_ifindex != 0, else XDP_PASS.
//   other frames -> XDP_PASS.
// The helpers only record the target; the frame is sent when the program returns XDP_REDIRECT.
//
// Configuration (.rodata):
//   ipv4_port     __u32  DEVMAP slot for IPv4 frames (default 0)
//   ipv6_ifindex  __u32  interface index for IPv6 frames (default 0 = do not redirect IPv6)
//
// Maps
//   tx_ports        DEVMAP  key __u32 slot, value __u32 ifindex; 8 slots, filled from user space
//   redirect_stats  ARRAY   key __u32 XDP action, value __u64 packets
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

volatile const __u32 ipv4_port = 0;
volatile const __u32 ipv6_ifindex = 0;

struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u32);
} tx_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XDP_REDIRECT + 1);
    __type(key, __u32);
    __type(value, __u64);
} redirect_stats SEC(".maps");

static __always_inline int count(__u32 action)
{
    __u64 *value = bpf_map_lookup_elem(&redirect_stats, &action);
    if (value)
        __sync_fetch_and_add(value, 1);
    return action;
}

SEC("xdp")
int xdp_redirect_devmap(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return count(XDP_PASS);

    if (eth->h_proto == bpf_htons(ETH_P_IP))
        return count(bpf_redirect_map(&tx_ports, ipv4_port, XDP_PASS));
    if (eth->h_proto == bpf_htons(ETH_P_IPV6) && ipv6_ifindex != 0)
        return count(bpf_redirect(ipv6_ifindex, 0));
    return count(XDP_PASS);
}

char _license[] SEC("license") = "GPL";
