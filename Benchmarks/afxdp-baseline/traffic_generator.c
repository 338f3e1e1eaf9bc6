// See include/traffic_generator.h.
#define _GNU_SOURCE
#include "traffic_generator.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Repetitions per call: ~30-100 ms at this machine's rates, so a stop request is honoured quickly. */
#define CHUNK (1u << 18)

struct bench_txgen {
    pthread_t thread;
    int program_fd;
    char netns_path[256];
    char ifname[IF_NAMESIZE];
    void *packet;
    uint32_t length;
    uint64_t max_packets;
    uint64_t max_nanoseconds;
    int cpu;
    int stop;
    int finished;
    uint64_t sent;
    struct bench_txgen_result result;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(struct bench_txgen *g, const char *step, int error)
{
    g->result.error = error;
    snprintf(g->result.failed_step, sizeof(g->result.failed_step), "%s", step);
}

static void *generate(void *context)
{
    struct bench_txgen *g = context;
    if (g->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(g->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    int ns = open(g->netns_path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        fail(g, "open netns", -errno);
        goto done;
    }
    if (setns(ns, CLONE_NEWNET) < 0) {
        fail(g, "setns", -errno);
        close(ns);
        goto done;
    }
    close(ns);
    unsigned ifindex = if_nametoindex(g->ifname);
    if (ifindex == 0) {
        fail(g, "if_nametoindex", -errno);
        goto done;
    }
    struct xdp_md context_in;
    memset(&context_in, 0, sizeof(context_in));
    context_in.data_end = g->length;
    context_in.ingress_ifindex = ifindex;
    uint64_t deadline = now_ns() + g->max_nanoseconds;
    while (!__atomic_load_n(&g->stop, __ATOMIC_RELAXED) && g->result.sent < g->max_packets && now_ns() < deadline) {
        uint64_t left = g->max_packets - g->result.sent;
        LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = g->packet, .data_size_in = g->length,
                    .ctx_in = &context_in, .ctx_size_in = sizeof(context_in),
                    .repeat = left < CHUNK ? (uint32_t)left : CHUNK, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
        int rc = bpf_prog_test_run_opts(g->program_fd, &options);
        if (rc < 0) {
            if (rc == -EINTR)
                continue;
            fail(g, "bpf_prog_test_run_opts", rc);
            break;
        }
        g->result.sent += options.repeat;
        g->result.calls++;
        __atomic_store_n(&g->sent, g->result.sent, __ATOMIC_RELAXED);
    }
done:
    __atomic_store_n(&g->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

int bench_txgen_start(int program_fd, const char *netns_path, const char *ifname, const void *packet,
                      uint32_t length, uint64_t max_packets, uint64_t max_nanoseconds, int cpu,
                      struct bench_txgen **out)
{
    if (strlen(netns_path) >= sizeof(((struct bench_txgen *)0)->netns_path) || strlen(ifname) >= IF_NAMESIZE)
        return -ENAMETOOLONG;
    struct bench_txgen *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->packet = malloc(length);
    if (!g->packet) {
        free(g);
        return -ENOMEM;
    }
    memcpy(g->packet, packet, length);
    g->length = length;
    g->program_fd = program_fd;
    snprintf(g->netns_path, sizeof(g->netns_path), "%s", netns_path);
    snprintf(g->ifname, sizeof(g->ifname), "%s", ifname);
    g->max_packets = max_packets;
    g->max_nanoseconds = max_nanoseconds;
    g->cpu = cpu;
    int rc = pthread_create(&g->thread, NULL, generate, g);
    if (rc) {
        free(g->packet);
        free(g);
        return -rc;
    }
    *out = g;
    return 0;
}

uint64_t bench_txgen_sent(const struct bench_txgen *g) { return __atomic_load_n(&g->sent, __ATOMIC_RELAXED); }

int bench_txgen_finished(const struct bench_txgen *g) { return __atomic_load_n(&g->finished, __ATOMIC_ACQUIRE); }

void bench_txgen_stop(struct bench_txgen *g, struct bench_txgen_result *result)
{
    if (!g)
        return;
    __atomic_store_n(&g->stop, 1, __ATOMIC_RELAXED);
    pthread_join(g->thread, NULL);
    if (result)
        *result = g->result;
    free(g->packet);
    free(g);
}

int bench_set_gro(const char *ifname, int on)
{
    struct ethtool_value value = {.cmd = ETHTOOL_SGRO, .data = on ? 1 : 0};
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    if (strlen(ifname) >= sizeof(request.ifr_name))
        return -ENAMETOOLONG;
    strcpy(request.ifr_name, ifname);
    request.ifr_data = (void *)&value;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = ioctl(fd, SIOCETHTOOL, &request) < 0 ? -errno : 0;
    close(fd);
    return rc;
}
