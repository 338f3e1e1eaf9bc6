// runaway_loop.c — verified, terminating, and still far too slow: nested bpf_loop calls, each at the kernel's limit
// of 1 << 23 iterations (BPF_MAX_LOOPS), i.e. 2^46 callback runs per packet. The kernel's verifier accepts it (it
// checks each callback once) and so does Sluice's; only the per-packet instruction budget (`--budget`) stops it:
// every packet ends as XDP_ABORTED with a note naming the budget. Used by Tests/SluiceTests/RunBudgetTests.swift.
//
// Maps
//   passes  ARRAY  key __u32 (0), value __u64: inner callback runs, so the work is observable
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_LOOPS (1 << 23)

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} passes SEC(".maps");

static long inner(__u32 index, void *data)
{
    __u64 *count = data;
    *count += 1;
    return 0;
}

static long outer(__u32 index, void *data)
{
    bpf_loop(MAX_LOOPS, inner, data, 0);
    return 0;
}

SEC("xdp")
int runaway(struct xdp_md *ctx)
{
    __u64 count = 0;
    bpf_loop(MAX_LOOPS, outer, &count, 0);
    __u32 key = 0;
    __u64 *total = bpf_map_lookup_elem(&passes, &key);
    if (total)
        __sync_fetch_and_add(total, count);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
