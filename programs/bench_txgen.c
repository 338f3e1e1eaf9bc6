// bench_txgen.c — the in-kernel traffic generator of `sluice bench --live`.
//
// Run by BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES and a large `repeat`, with ctx_in.ingress_ifindex set to
// the namespace end of the benchmark's veth pair: every repetition transmits the test packet out of that end
// (XDP_TX), so it arrives at the host end, where the receiver under test waits. No maps, no state.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bench_txgen(struct xdp_md *ctx)
{
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
