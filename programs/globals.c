// globals.c — global variables in every data section libbpf knows, and bpf_printk.
//
//   .rodata          volatile const globals: configuration fixed at load time (the verifier treats them as
//                    constants, so `if (verbose)` branches disappear when verbose is 0)
//   .rodata.str1.1   string literals (mergeable strings), here the bpf_trace_printk format below
//   .rodata (static const char[])  the prefix table, and bpf_printk's own format arrays
//   .data            initialised mutable globals
//   .bss             zero-initialised mutable globals
// Every frame passes (XDP_PASS). Every `print_every`-th frame (a .data variable, so user space may change it
// at run time) is logged with bpf_printk when `verbose` is set; the kernel writes that to trace_pipe.
//
// Globals
//   .rodata  verbose (__u8, default 1), min_len (__u32, default 60: shorter frames count as runts)
//   .data    print_every (__u32, default 16), generation (__u64, default 1)
//   .bss     frames, bytes, runts, last_len (__u64), largest (__u32), last_ethertype (__u16)
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETHERTYPE_FORMAT "sluice globals: ethertype 0x%04x"

// .rodata
volatile const __u8 verbose = 1;
volatile const __u32 min_len = 60;
static const char kind_names[3][8] = { "runt", "frame", "jumbo" };

// .data
__u32 print_every = 16;
__u64 generation = 1;

// .bss
__u64 frames;
__u64 bytes;
__u64 runts;
__u64 last_len;
__u32 largest;
__u16 last_ethertype;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 len = data_end - data;
    struct ethhdr *eth = data;

    __u64 n = __sync_fetch_and_add(&frames, 1) + 1;
    __sync_fetch_and_add(&bytes, len);
    last_len = len;
    if (len > largest)
        largest = len;
    if ((void *)(eth + 1) <= data_end)
        last_ethertype = bpf_ntohs(eth->h_proto);

    __u32 kind = len < min_len ? 0 : len > 1514 ? 2 : 1;
    if (kind == 0)
        __sync_fetch_and_add(&runts, 1);

    __u32 every = print_every;
    if (verbose && every != 0 && n % every == 0) {
        // A literal format string lands in .rodata.str1.1; bpf_printk puts its format in .rodata.
        static const char fmt[] = "sluice globals: frame %llu len %u (%s)";
        bpf_trace_printk(fmt, sizeof(fmt), n, len, kind_names[kind]);
        bpf_printk("sluice globals: generation %llu", generation);
        const char *literal = ETHERTYPE_FORMAT;
        bpf_trace_printk(literal, sizeof(ETHERTYPE_FORMAT), last_ethertype);
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
