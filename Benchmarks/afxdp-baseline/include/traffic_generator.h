// The in-kernel traffic generator of `sluice bench live`: a thread that enters a network namespace (setns affects
// only the calling thread) and runs an XDP_TX program with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES, in
// chunks of `repeat`, with ctx_in.ingress_ifindex = the namespace end of a veth pair: every repetition leaves through
// that end and arrives at its peer. Bounded by a packet count and a time limit, and stoppable at any time.
#ifndef SLUICE_TRAFFIC_GENERATOR_H
#define SLUICE_TRAFFIC_GENERATOR_H

#include <stdint.h>

struct bench_txgen;

struct bench_txgen_result {
    /// Repetitions the kernel ran (each transmitted the packet once, unless the veth dropped it).
    uint64_t sent;
    /// BPF_PROG_TEST_RUN calls.
    uint64_t calls;
    /// 0, or -errno of the call that failed (see failed_step).
    int error;
    /// "open netns", "setns", "if_nametoindex", "bpf_prog_test_run_opts" or "".
    char failed_step[32];
};

/// Starts the generator thread. `packet` is copied. `cpu` >= 0 pins the thread to that CPU. Returns 0 or -errno.
int bench_txgen_start(int program_fd, const char *netns_path, const char *ifname, const void *packet,
                      uint32_t length, uint64_t max_packets, uint64_t max_nanoseconds, int cpu,
                      struct bench_txgen **out);
/// Packets sent so far (published after every call).
uint64_t bench_txgen_sent(const struct bench_txgen *generator);
/// Non-zero once the thread has finished (limit reached or failed).
int bench_txgen_finished(const struct bench_txgen *generator);
/// Asks the thread to stop after its current call, joins it, fills `result`, frees the generator.
void bench_txgen_stop(struct bench_txgen *generator, struct bench_txgen_result *result);

/// Turns generic receive offload on or off for `ifname` (ETHTOOL_SGRO) in the calling thread's network namespace.
/// A veth whose peer transmits with ndo_xdp_xmit needs NAPI, which a native XDP program or GRO provides: with the
/// redirect program attached in skb mode, GRO must be on or the generator's frames are dropped. Returns 0 or -errno.
int bench_set_gro(const char *ifname, int on);

#endif
