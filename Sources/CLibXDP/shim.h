// _GNU_SOURCE for sched_{get,set}affinity (CPU pinning of the kernel runner and workers).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
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
