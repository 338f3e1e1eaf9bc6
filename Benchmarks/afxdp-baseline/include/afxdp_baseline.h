// The C baseline receiver of `sluice bench live`: a minimal libxdp AF_XDP rxdrop loop (no program: every received
// frame goes straight back to the fill ring), run on a thread of its own next to Sluice's engine.
//
// It loads no XDP program (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): the benchmark attaches the same redirect program in
// the same mode as for Sluice and inserts this socket's fd into its XSKMAP, so both receivers see identical kernel
// work. UMEM and ring sizes are Sluice's defaults (4096 frames of 4096 bytes, 2048-entry rings), copy mode,
// XDP_USE_NEED_WAKEUP, batches of 64; an idle loop sleeps in poll() (100 ms), like Sluice's worker.
#ifndef AFXDP_BASELINE_H
#define AFXDP_BASELINE_H

#include <stdint.h>
#include <time.h>

struct afxdp_baseline;

/// Counters the receiving thread publishes once per batch.
struct afxdp_baseline_counters {
    uint64_t rx_packets;
    uint64_t rx_bytes;
    uint64_t batches;
    uint64_t empty_polls;
    uint64_t wakeups;
};

/// The socket's XDP_STATISTICS.
struct afxdp_baseline_xdp_stats {
    uint64_t rx_dropped;
    uint64_t rx_invalid_descs;
    uint64_t rx_ring_full;
    uint64_t rx_fill_ring_empty_descs;
};

/// Creates the UMEM and the socket on `ifname` queue `queue`. Returns 0 or -errno; on success `*out` is set.
int afxdp_baseline_open(const char *ifname, uint32_t queue, struct afxdp_baseline **out);
/// The socket's fd, to insert into the redirect program's XSKMAP.
int afxdp_baseline_fd(const struct afxdp_baseline *baseline);
/// Starts the receiving thread (it inherits the caller's CPU affinity). Returns 0 or -errno.
int afxdp_baseline_start(struct afxdp_baseline *baseline);
/// The receiving thread's CPU-time clock (valid after start, until stop; thread clock ids are negative numbers).
/// Returns 0 and sets `*clock`, or -EAGAIN before the thread has published it.
int afxdp_baseline_cpu_clock(const struct afxdp_baseline *baseline, clockid_t *clock);
void afxdp_baseline_counters(const struct afxdp_baseline *baseline, struct afxdp_baseline_counters *out);
/// Reads XDP_STATISTICS. Returns 0 or -errno.
int afxdp_baseline_statistics(const struct afxdp_baseline *baseline, struct afxdp_baseline_xdp_stats *out);
/// Stops and joins the thread (if started), deletes the socket and the UMEM, frees everything. Idempotent on NULL.
void afxdp_baseline_close(struct afxdp_baseline *baseline);

#endif
