// libxdp + libbpf, imported once for the engine (AF_XDP sockets, redirect program, kernel runner) and the object
// loader (BTF). Swift calls xsk.h's inline ring helpers directly: they inline (see PLATFORM-NOTES §4.1).
#include <xdp/xsk.h>
#include <xdp/libxdp.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

// CPU pinning (kernel runner, workers). glibc's sched_{get,set}affinity need _GNU_SOURCE, which changes libc's
// struct definitions and clashes with Swift's Glibc module, so the raw system calls are wrapped instead.
static inline long sluice_sched_getaffinity(unsigned long size, void *mask) {
    return syscall(SYS_sched_getaffinity, 0, size, mask);
}
static inline long sluice_sched_setaffinity(unsigned long size, const void *mask) {
    return syscall(SYS_sched_setaffinity, 0, size, mask);
}
