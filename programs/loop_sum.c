// loop_sum.c — sums the UDP payload bytes of each IPv4 packet with bpf_loop and a callback.
//
// bpf_loop(n, callback, ctx, 0) calls callback(i, ctx) for i = 0..n-1 until it returns 1; the verifier checks
// the callback once instead of unrolling n iterations. Here the callback adds one payload byte per call, read
// with bpf_xdp_load_bytes (the callback gets no packet pointers of its own). The sum of a packet's payload
// (at most MAX_PAYLOAD bytes, sum over bytes as unsigned values) is added to payload_sums[0], the byte count
// to payload_sums[1], and packets whose payload sum is 0 modulo 256 (e.g. empty or all-zero) are dropped —
// a toy integrity rule that gives the program both verdicts. Everything that is not IPv4/UDP passes.
//
// Maps
//   payload_sums  ARRAY  key __u32 (0 = sum of payload bytes, 1 = payload bytes summed, 2 = packets), value __u64
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_PAYLOAD 1500

enum sum_slot {
    SUM_BYTES_VALUE,
    SUM_BYTES_COUNT,
    SUM_PACKETS,
    SUM_MAX,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SUM_MAX);
    __type(key, __u32);
    __type(value, __u64);
} payload_sums SEC(".maps");

struct sum_ctx {
    struct xdp_md *xdp;
    __u32 offset;      // payload start in the frame
    __u32 count;       // bytes added so far
    __u64 sum;
};

static long add_byte(__u32 index, void *data)
{
    struct sum_ctx *ctx = data;
    __u8 byte;
    if (bpf_xdp_load_bytes(ctx->xdp, ctx->offset + index, &byte, 1))
        return 1; // past the end of the frame: stop
    ctx->sum += byte;
    ctx->count += 1;
    return 0;
}

static __always_inline void add(__u32 slot, __u64 value)
{
    __u64 *counter = bpf_map_lookup_elem(&payload_sums, &slot);
    if (counter)
        __sync_fetch_and_add(counter, value);
}

SEC("xdp")
int xdp_loop_sum(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
        return XDP_PASS;
    __u32 header_len = ip->ihl * 4;
    if (header_len < sizeof(*ip))
        return XDP_PASS;
    struct udphdr *udp = (void *)ip + header_len;
    if ((void *)(udp + 1) > data_end)
        return XDP_PASS;

    __u32 udp_len = bpf_ntohs(udp->len);
    __u32 payload_len = udp_len > sizeof(*udp) ? udp_len - sizeof(*udp) : 0;
    if (payload_len > MAX_PAYLOAD)
        payload_len = MAX_PAYLOAD;

    struct sum_ctx sum = {
        .xdp = ctx,
        .offset = (void *)(udp + 1) - data,
    };
    bpf_loop(payload_len, add_byte, &sum, 0);

    add(SUM_BYTES_VALUE, sum.sum);
    add(SUM_BYTES_COUNT, sum.count);
    add(SUM_PACKETS, 1);
    return (sum.sum & 0xff) == 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
