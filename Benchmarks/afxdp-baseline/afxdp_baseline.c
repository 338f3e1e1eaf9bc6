// See include/afxdp_baseline.h. Written for the benchmark from the AF_XDP documentation and libxdp's xsk.h API.
#define _GNU_SOURCE
#include "afxdp_baseline.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define FRAME_SIZE 4096u
#define FRAME_COUNT 4096u
#define RING_SIZE 2048u
#define BATCH 64u
#define IDLE_POLL_MS 100

struct afxdp_baseline {
    void *area;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons completion;
    struct xsk_ring_cons rx;
    pthread_t thread;
    int started;
    int stop;                 /* written by close(), read by the thread (atomics) */
    clockid_t cpu_clock;      /* published by the thread (atomics) */
    int cpu_clock_ready;
    struct afxdp_baseline_counters published; /* written by the thread with atomic stores per field */
    uint64_t free_frames[FRAME_COUNT];        /* frames in neither ring (owned by the thread after start) */
    uint32_t free_count;
};

int afxdp_baseline_open(const char *ifname, uint32_t queue, struct afxdp_baseline **out)
{
    struct afxdp_baseline *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    size_t size = (size_t)FRAME_SIZE * FRAME_COUNT;
    b->area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b->area == MAP_FAILED) {
        int err = -errno;
        free(b);
        return err;
    }
    struct xsk_umem_config umem_config = {
        .fill_size = RING_SIZE,
        .comp_size = RING_SIZE,
        .frame_size = FRAME_SIZE,
        .frame_headroom = 0,
        .flags = 0,
    };
    int err = xsk_umem__create(&b->umem, b->area, size, &b->fill, &b->completion, &umem_config);
    if (err) {
        munmap(b->area, size);
        free(b);
        return err;
    }
    struct xsk_socket_config config = {
        .rx_size = RING_SIZE,
        .tx_size = RING_SIZE,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = 0,
        .bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY,
    };
    /* A socket closed just before (the other receiver's) may still hold the queue: retry EBUSY for a second. */
    for (int attempt = 0; attempt < 100; attempt++) {
        err = xsk_socket__create(&b->xsk, ifname, queue, b->umem, &b->rx, NULL, &config);
        if (err != -EBUSY)
            break;
        usleep(10000);
    }
    if (err) {
        xsk_umem__delete(b->umem);
        munmap(b->area, size);
        free(b);
        return err;
    }
    /* As Sluice's engine: the fill ring full (half the UMEM), the other half free, refilled from after every batch. */
    uint32_t index = 0;
    uint32_t reserved = xsk_ring_prod__reserve(&b->fill, RING_SIZE, &index);
    for (uint32_t i = 0; i < reserved; i++)
        *xsk_ring_prod__fill_addr(&b->fill, index + i) = (uint64_t)i * FRAME_SIZE;
    xsk_ring_prod__submit(&b->fill, reserved);
    for (uint32_t i = reserved; i < FRAME_COUNT; i++)
        b->free_frames[b->free_count++] = (uint64_t)i * FRAME_SIZE;
    *out = b;
    return 0;
}

int afxdp_baseline_fd(const struct afxdp_baseline *b) { return xsk_socket__fd(b->xsk); }

static void publish(struct afxdp_baseline *b, const struct afxdp_baseline_counters *c)
{
    __atomic_store_n(&b->published.rx_packets, c->rx_packets, __ATOMIC_RELAXED);
    __atomic_store_n(&b->published.rx_bytes, c->rx_bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&b->published.batches, c->batches, __ATOMIC_RELAXED);
    __atomic_store_n(&b->published.empty_polls, c->empty_polls, __ATOMIC_RELAXED);
    __atomic_store_n(&b->published.wakeups, c->wakeups, __ATOMIC_RELAXED);
}

static void *receive_loop(void *context)
{
    struct afxdp_baseline *b = context;
    clockid_t clock;
    if (pthread_getcpuclockid(pthread_self(), &clock) == 0) {
        __atomic_store_n(&b->cpu_clock, clock, __ATOMIC_RELAXED);
        __atomic_store_n(&b->cpu_clock_ready, 1, __ATOMIC_RELEASE);
    }
    struct afxdp_baseline_counters c = {0};
    int fd = xsk_socket__fd(b->xsk);
    while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
        uint32_t rx_index = 0;
        uint32_t got = xsk_ring_cons__peek(&b->rx, BATCH, &rx_index);
        if (got == 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, IDLE_POLL_MS);
            c.empty_polls++;
            c.wakeups++;
            publish(b, &c);
            continue;
        }
        for (uint32_t i = 0; i < got; i++) {
            const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&b->rx, rx_index + i);
            c.rx_bytes += desc->len;
            b->free_frames[b->free_count++] = xsk_umem__extract_addr(desc->addr);
        }
        xsk_ring_cons__release(&b->rx, got);
        /* Top the fill ring up with every free frame it has room for. */
        uint32_t room = xsk_prod_nb_free(&b->fill, b->free_count);
        if (room > b->free_count)
            room = b->free_count;
        uint32_t fill_index = 0;
        if (room > 0 && xsk_ring_prod__reserve(&b->fill, room, &fill_index) == room) {
            for (uint32_t i = 0; i < room; i++)
                *xsk_ring_prod__fill_addr(&b->fill, fill_index + i) = b->free_frames[--b->free_count];
            xsk_ring_prod__submit(&b->fill, room);
        }
        c.rx_packets += got;
        c.batches++;
        publish(b, &c);
    }
    publish(b, &c);
    return NULL;
}

int afxdp_baseline_start(struct afxdp_baseline *b)
{
    if (b->started)
        return 0;
    int rc = pthread_create(&b->thread, NULL, receive_loop, b);
    if (rc)
        return -rc;
    b->started = 1;
    return 0;
}

int afxdp_baseline_cpu_clock(const struct afxdp_baseline *b, clockid_t *clock)
{
    if (!__atomic_load_n(&b->cpu_clock_ready, __ATOMIC_ACQUIRE))
        return -EAGAIN;
    *clock = __atomic_load_n(&b->cpu_clock, __ATOMIC_RELAXED);
    return 0;
}

void afxdp_baseline_counters(const struct afxdp_baseline *b, struct afxdp_baseline_counters *out)
{
    out->rx_packets = __atomic_load_n(&b->published.rx_packets, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&b->published.rx_bytes, __ATOMIC_RELAXED);
    out->batches = __atomic_load_n(&b->published.batches, __ATOMIC_RELAXED);
    out->empty_polls = __atomic_load_n(&b->published.empty_polls, __ATOMIC_RELAXED);
    out->wakeups = __atomic_load_n(&b->published.wakeups, __ATOMIC_RELAXED);
}

int afxdp_baseline_statistics(const struct afxdp_baseline *b, struct afxdp_baseline_xdp_stats *out)
{
    struct xdp_statistics stats;
    socklen_t length = sizeof(stats);
    memset(&stats, 0, sizeof(stats));
    if (getsockopt(xsk_socket__fd(b->xsk), SOL_XDP, XDP_STATISTICS, &stats, &length) < 0)
        return -errno;
    out->rx_dropped = stats.rx_dropped;
    out->rx_invalid_descs = stats.rx_invalid_descs;
    out->rx_ring_full = length >= sizeof(stats) ? stats.rx_ring_full : 0;
    out->rx_fill_ring_empty_descs = length >= sizeof(stats) ? stats.rx_fill_ring_empty_descs : 0;
    return 0;
}

void afxdp_baseline_close(struct afxdp_baseline *b)
{
    if (!b)
        return;
    if (b->started) {
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
        pthread_join(b->thread, NULL);
        b->started = 0;
    }
    xsk_socket__delete(b->xsk);
    xsk_umem__delete(b->umem);
    munmap(b->area, (size_t)FRAME_SIZE * FRAME_COUNT);
    free(b);
}
