// xdp_drop.c — the trivial program: every frame is dropped (XDP_DROP).
//
// The reference for the live engine's own cost (`sluice bench live programs/build/xdp_drop.o`): with a program
// that does nothing, what Sluice spends per frame beyond the C libxdp receiver is the engine (rings, pipeline,
// verdict handling), not the VM.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
    return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
