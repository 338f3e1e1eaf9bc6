// alu_switch_loop.c — a tiny stack machine over the first 32 bytes of the frame: each byte is an opcode whose low
// three bits pick one of eight ALU operations (a `switch` inside a bounded loop) on two 32-bit accumulators. The
// result decides the verdict: frames whose final hash is even are dropped, odd ones pass; frames shorter than
// PROGRAM_BYTES pass untouched. The running hash of every frame is added to `hash_sums[0]`.
//
// The verification workload is the point: with -mcpu=v3 the switch becomes a compare chain that gives each round
// eight paths, so a verifier that compares the accumulators' ranges when pruning sees 8^32 distinct paths; the
// kernel's precision tracking knows that nothing depends on their exact values (only the loop index, which bounds
// the packet access, is precise) and prunes every round down to a handful of states.
//
// Maps
//   hash_sums  ARRAY  key __u32 (0 = sum of the final hashes), value __u64
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PROGRAM_BYTES 32

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} hash_sums SEC(".maps");

SEC("xdp")
int alu_switch_loop(struct xdp_md *ctx)
{
    __u8 *data = (__u8 *)(long)ctx->data;
    __u8 *end = (__u8 *)(long)ctx->data_end;
    if (data + PROGRAM_BYTES > end)
        return XDP_PASS;

    __u32 h = 0x811c9dc5, acc = 0x9e3779b9;
#pragma clang loop unroll(disable)
    for (int i = 0; i < PROGRAM_BYTES; i++) {
        __u32 op = data[i];
        switch (op & 7) {
        case 0: h = (h ^ op) * 16777619u; break;
        case 1: h = (h << 5) | (h >> 27); break;
        case 2: h += acc ^ op; break;
        case 3: acc ^= h >> 3; break;
        case 4: acc = acc * 2654435761u + op; break;
        case 5: h -= (acc << 7) ^ (acc >> 9); break;
        case 6: acc = (acc >> 11) | (h << 21); break;
        default: h ^= acc + (op << 13); break;
        }
    }

    __u32 key = 0;
    __u64 *sum = bpf_map_lookup_elem(&hash_sums, &key);
    if (sum)
        __sync_fetch_and_add(sum, (__u64)(h ^ acc));
    return ((h ^ acc) & 1) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
